import ConnectionLifecycle
import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import SwitchboardEngine
import StoreContract
import Synchronization

/// `GET /api/events/stream`: the event log as Server-Sent Events. Each event carries its
/// sequence as `id`, so a client that reconnects with `Last-Event-ID` (or `lastEventId`)
/// gets every later event exactly once; without one the stream starts at the present.
/// Filters: `connection`, `kind`, `environment` (repeated or comma-separated). A comment
/// line every 15 seconds keeps proxies from closing a quiet stream. The sign-in is checked
/// again before each batch of events and at least every `recheckInterval`: a stream whose
/// token was revoked or expired ends with an `unauthorized` event (a problem) instead of
/// delivering more.
struct EventStreamRoutes<Context: RequestContext>: Sendable {
    let engine: ConnectionEngine
    let streams: OpenStreams

    static var pollInterval: Duration { .milliseconds(200) }
    static var heartbeatInterval: Duration { .seconds(15) }
    /// As often as the token service reads a token again: sooner would only hit its cache.
    static var recheckInterval: Duration { .seconds(TokenService.recheckAfter) }

    func register(on router: Router<Context>) {
        router.get("api/events/stream", use: stream)
    }

    @Sendable func stream(_ request: Request, context: Context) async throws -> Response {
        let parameters = try QueryValue.parameters(request)
        let principal = RequestPrincipal.current
        var query = EventLogQuery(
            after: 0,
            connections: try parameters.getAll("connection").flatMap(QueryValue.pieces).map {
                try QueryValue.uuid($0, name: "connection")
            },
            kinds: parameters.getAll("kind").flatMap(QueryValue.commaSeparated),
            environments: try parameters.getAll("environment").flatMap(QueryValue.pieces).map {
                try QueryValue.uuid($0, name: "environment")
            },
            owner: principal.ownerScope, sharedWith: principal.isAdmin ? nil : principal.userId)
        // Both are checked when both are given; the header wins.
        let header = try request.headers.first { $0.name.canonicalName == "last-event-id" }
            .map { try Self.sequence($0.value, field: "Last-Event-ID") }
        let fromQuery = try QueryValue.one(parameters, "lastEventId").map { try Self.sequence($0, field: "lastEventId") }
        if let sequence = header ?? fromQuery {
            query.after = sequence
        } else {
            query.after = try await engine.latestEventSequence()
        }

        let engine = engine
        let (body, continuation) = AsyncStream<ByteBuffer>.makeStream(bufferingPolicy: .bufferingOldest(4096))
        let startQuery = query
        let signIn = RequestPrincipal.signIn
        let producer = Task {
            var query = startQuery
            var quiet = ContinuousClock.now
            var checked = ContinuousClock.now
            // The first block names where the stream starts, so a client that reconnects
            // before any event still resumes from here and misses nothing.
            continuation.yield(ByteBuffer(string: "retry: 2000\nid: \(startQuery.after)\n\n"))
            while !Task.isCancelled {
                guard let batch = try? await engine.eventLog(query) else { break }
                if !batch.isEmpty || ContinuousClock.now - checked >= Self.recheckInterval {
                    if let refusal = await RequestPrincipal.recheck(signIn) {
                        continuation.yield(Self.ended(refusal))
                        break
                    }
                    checked = .now
                }
                for event in batch {
                    continuation.yield(Self.message(event))
                    query.after = event.sequence
                    quiet = .now
                }
                if batch.count == query.limit { continue }
                if ContinuousClock.now - quiet >= Self.heartbeatInterval {
                    continuation.yield(ByteBuffer(string: ": keep-alive\n\n"))
                    quiet = .now
                }
                try? await Task.sleep(for: Self.pollInterval)
            }
            continuation.finish()
        }
        let token = streams.open(producer)
        continuation.onTermination = { _ in
            producer.cancel()
            streams.close(token)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                        body: ResponseBody(asyncSequence: body))
    }

    /// An event id a client resumes after: a whole number (one past every event there can be
    /// resumes after all of them).
    static func sequence(_ text: String, field: String) throws -> Int64 {
        guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            throw Problem.badRequest("\(field) must be the id of an event (a whole number), not '\(text)'", field: field)
        }
        return Int64(text) ?? Int64.max
    }

    /// The last message of a stream whose sign-in no longer stands: the 401 problem a new
    /// request would get, as an `unauthorized` event.
    static func ended(_ refusal: String) -> ByteBuffer {
        let problem = AuthenticationMiddleware<Context>.unauthorized(refusal)
        let data = (try? JSONBody.encoder.encode(problem)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return ByteBuffer(string: "event: unauthorized\ndata: \(data)\n\n")
    }

    static func message(_ event: LifecycleEvent) -> ByteBuffer {
        let data = (try? JSONBody.encoder.encode(EventResource(event))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return ByteBuffer(string: "id: \(event.sequence)\nevent: transition\ndata: \(data)\n\n")
    }
}

/// The open streams, so a graceful shutdown can end them (an open response would otherwise
/// hold the server up).
final class OpenStreams: Sendable {
    private let producers = Mutex<[UUID: Task<Void, Never>]>([:])

    func open(_ producer: Task<Void, Never>) -> UUID {
        let token = UUID()
        producers.withLock { $0[token] = producer }
        return token
    }

    func close(_ token: UUID) { _ = producers.withLock { $0.removeValue(forKey: token) } }

    func closeAll() {
        for producer in producers.withLock({ $0.values }) { producer.cancel() }
    }
}

/// Ends every open stream when the server starts shutting down.
struct OpenStreamsCloser: Service {
    let streams: OpenStreams

    func run() async throws {
        try? await gracefulShutdown()
        streams.closeAll()
    }
}
