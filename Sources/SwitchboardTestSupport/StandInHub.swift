import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// Stands in for a hub's routes (issue 16), on a free loopback port: the registration
/// (`POST /api/integrations/connections`), the heartbeat and the stop
/// (`POST /api/integrations/connections/meshery/{serverId}/heartbeat|stop`), answered as a
/// test scripts them. Every request is recorded, whatever its path, with its
/// `Authorization` header and body, so a test can also check that a token never went
/// somewhere else.
public final class StandInHub: Sendable {
    /// The hub's routes.
    public enum Route: Sendable, Hashable {
        case register, heartbeat, stop
    }

    /// One request as received.
    public struct Received: Sendable {
        public var method: String
        public var path: String
        public var route: Route?
        public var authorization: String?
        public var contentType: String?
        public var body: Data
    }

    /// An answer to script.
    public struct Answer: Sendable {
        public var status: Int
        public var body: String
        public var location: String?

        public init(status: Int, body: String = "", location: String? = nil) {
            self.status = status
            self.body = body
            self.location = location
        }

        /// A connection, as the hub answers a registration (201 new, 200 known).
        public static func registered(id: UUID = UUID(), status: String = "registered", created: Bool = true) -> Answer {
            Answer(status: created ? 201 : 200,
                   body: #"{"id":"\#(id.uuidString.lowercased())","kind":"meshery","status":"\#(status)"}"#)
        }

        /// A heartbeat's answer: the hub's status for the spoke and its lease.
        public static func lease(status: String = "connected", seconds: Int = 40) -> Answer {
            Answer(status: 200, body: #"{"connectionId":"\#(UUID().uuidString.lowercased())","status":"\#(status)","leaseSeconds":\#(seconds),"leaseExpiresAt":"2030-01-01T00:00:00Z"}"#)
        }

        /// A problem document with `status`.
        public static func problem(_ status: Int, detail: String = "stand-in hub says no") -> Answer {
            Answer(status: status, body: #"{"type":"/problems/stand-in","title":"Stand-in","status":\#(status),"detail":"\#(detail)"}"#)
        }

        public static func redirect(to location: String, status: Int = 302) -> Answer {
            Answer(status: status, location: location)
        }
    }

    fileprivate struct Script {
        var queued: [Route: [Answer]] = [:]
        var standing: [Route: Answer] = [
            .register: .registered(), .heartbeat: .lease(), .stop: Answer(status: 204),
        ]
        var received: [Received] = []

        mutating func next(_ route: Route) -> Answer {
            if var answers = queued[route], !answers.isEmpty {
                let first = answers.removeFirst()
                queued[route] = answers
                return first
            }
            return standing[route] ?? Answer(status: 404)
        }
    }

    public let port: Int
    private let server: LiveServer
    private let shared: SharedScript

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(server: LiveServer, shared: SharedScript) {
        self.server = server
        self.port = server.port
        self.shared = shared
    }

    /// Every request so far, in order.
    public var received: [Received] { shared.script.withLock { $0.received } }

    public func received(_ route: Route) -> [Received] { received.filter { $0.route == route } }

    /// Answers `answers` to `route`'s next requests, in order, then `standing` from then on.
    public func script(_ route: Route, _ answers: [Answer] = [], then standing: Answer) {
        shared.script.withLock { script in
            script.queued[route] = answers
            script.standing[route] = standing
        }
    }

    public static func start() async throws -> StandInHub {
        let shared = SharedScript()
        let router = Router()
        router.middlewares.add(HubMiddleware(answer: { try await StandInHub.answer($0, shared) }))
        return StandInHub(server: try await LiveServer.start(router: router), shared: shared)
    }

    public func stop() async {
        await server.stop()
    }

    private static func answer(_ request: Request, _ shared: SharedScript) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 1 << 20)
        let path = request.uri.path
        let parts = path.split(separator: "/")
        let route: Route? = switch (request.method, parts.count, parts.last) {
        case (.post, 3, _) where path == "/api/integrations/connections": .register
        case (.post, 6, "heartbeat") where path.hasPrefix("/api/integrations/connections/meshery/"): .heartbeat
        case (.post, 6, "stop") where path.hasPrefix("/api/integrations/connections/meshery/"): .stop
        default: nil
        }
        let answer = shared.script.withLock { script in
            script.received.append(Received(
                method: request.method.rawValue, path: path, route: route,
                authorization: request.headers[.authorization], contentType: request.headers[.contentType],
                body: Data(body.readableBytesView)))
            return route.map { script.next($0) } ?? Answer(status: 404)
        }
        var headers: HTTPFields = [.contentType: answer.body.hasPrefix("{\"type\"") ? "application/problem+json" : "application/json"]
        if let location = answer.location { headers[.location] = location }
        return Response(status: HTTPResponse.Status(code: answer.status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
    }
}

/// The script and the record, shared by the test and the server's tasks.
private final class SharedScript: Sendable {
    let script = Mutex(StandInHub.Script())
}

/// Answers every request itself (recording it), whatever the path.
private struct HubMiddleware<Context: RequestContext>: RouterMiddleware {
    let answer: @Sendable (Request) async throws -> Response

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await answer(request)
    }
}
