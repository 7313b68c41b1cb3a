import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP server on a free loopback port, for tests: it stands in for the targets
/// connections point at (there is no Prometheus or Kubernetes here for the generic check).
///
/// Routes: `/ok` answers 200, `/fail` answers 503, `/flaky` answers 503 on every third
/// request and 200 otherwise, `/slow` answers 200 after two seconds. Every request is counted.
public final class StandInHTTPServer: Sendable {
    public let port: Int
    private let services: ServiceGroup
    private let running: Task<Void, any Error>
    private let counter: Counter

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var reachableURL: String { "\(baseURL)/ok" }
    public var failingURL: String { "\(baseURL)/fail" }
    public var flakyURL: String { "\(baseURL)/flaky" }
    public var slowURL: String { "\(baseURL)/slow" }
    /// Nothing listens on port 1 of the loopback: connections are refused at once.
    public static let refusedURL = "http://127.0.0.1:1/"

    public var requestCount: Int { counter.count.withLock { $0 } }

    private init(port: Int, services: ServiceGroup, running: Task<Void, any Error>, counter: Counter) {
        self.port = port
        self.services = services
        self.running = running
        self.counter = counter
    }

    public static func start() async throws -> StandInHTTPServer {
        let requests = Counter()
        let router = Router()
        router.get("ok") { _, _ in requests.next(); return HTTPResponse.Status.ok }
        router.get("fail") { _, _ in requests.next(); return HTTPResponse.Status.serviceUnavailable }
        router.get("flaky") { _, _ in
            requests.next() % 3 == 0 ? HTTPResponse.Status.serviceUnavailable : .ok
        }
        router.get("slow") { _, _ in
            requests.next()
            try await Task.sleep(for: .seconds(2))
            return HTTPResponse.Status.ok
        }
        let server = try await LiveServer.start(router: router)
        return StandInHTTPServer(port: server.port, services: server.services, running: server.running,
                                 counter: requests)
    }

    public func stop() async {
        await services.triggerGracefulShutdown()
        _ = try? await running.value
    }
}

/// Counts requests across the server's tasks.
private final class Counter: Sendable {
    let count = Mutex(0)

    @discardableResult
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
}

/// Runs a Hummingbird router on a free loopback port until told to stop.
public struct LiveServer: Sendable {
    public let port: Int
    public let services: ServiceGroup
    let running: Task<Void, any Error>

    public static func start<Builder: HTTPResponderBuilder>(router: Builder) async throws -> LiveServer
    where Builder.Responder.Context: RequestContext, Builder.Responder.Context.Source == ApplicationRequestContextSource {
        var logger = Logger(label: "stand-in")
        logger.logLevel = .warning
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: logger
        )
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let running = Task { try await services.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            running.cancel()
            throw LiveServerError.didNotStart
        }
        return LiveServer(port: port, services: services, running: running)
    }

    public func stop() async {
        await services.triggerGracefulShutdown()
        _ = try? await running.value
    }
}

public enum LiveServerError: Error {
    case didNotStart
}
