import ConnectionLifecycle
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP server on a free loopback port, for tests that need *some* healthy or broken
/// target rather than a particular product (those use real Prometheus, a real static Helm
/// repository, or the Kubernetes and Grafana stand-ins).
///
/// Under `/ok` it answers every kind's health endpoints as a healthy target would (Prometheus
/// `/-/ready` and build info, Grafana `/api/health` and `/api/search`, a Helm `index.yaml`,
/// Kubernetes `/version` and `/readyz` over plain HTTP, anything else 200). `/fail` answers 503 to everything, `/flaky` answers 503 on every third
/// request and like `/ok` otherwise, `/alternate/<name>` fails every other request to that
/// path, `/switch` is
/// healthy or failing as `setSwitch(healthy:)` says, `/slow` answers after two seconds.
/// Every request is counted.
public final class StandInHTTPServer: Sendable {
    public let port: Int
    private let services: ServiceGroup
    private let running: Task<Void, any Error>
    private let counter: Counter
    private let switchState: SwitchState

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var reachableURL: String { "\(baseURL)/ok" }
    public var failingURL: String { "\(baseURL)/fail" }
    public var flakyURL: String { "\(baseURL)/flaky" }
    public var slowURL: String { "\(baseURL)/slow" }
    public var alternatingURL: String { "\(baseURL)/alternate" }
    public var switchURL: String { "\(baseURL)/switch" }
    /// A kubeconfig (written into `folder`) whose only context points at `url` over plain
    /// HTTP with a token, so Kubernetes connections can use this stand-in too. Returns the
    /// metadata a connection needs to use it.
    public static func kubernetesMetadata(for url: String, in folder: TemporaryDirectory) throws -> [String: JSONValue] {
        let path = folder.file("kubeconfig-\(abs(url.hashValue))")
        try """
            apiVersion: v1
            kind: Config
            current-context: stand-in
            clusters: [{name: stand-in, cluster: {server: "\(url)"}}]
            users: [{name: stand-in, user: {token: stand-in-token}}]
            contexts: [{name: stand-in, context: {cluster: stand-in, user: stand-in}}]
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return ["kubeconfigPath": .string(path), "context": .string("stand-in")]
    }

    /// Nothing listens on port 1 of the loopback: connections are refused at once.
    public static let refusedURL = "http://127.0.0.1:1/"

    public var requestCount: Int { counter.count.withLock { $0 } }

    /// Makes `/switch` answer like `/ok` (healthy) or with 503.
    public func setSwitch(healthy: Bool) { switchState.healthy.withLock { $0 = healthy } }

    private init(port: Int, services: ServiceGroup, running: Task<Void, any Error>, counter: Counter,
                 switchState: SwitchState) {
        self.port = port
        self.services = services
        self.running = running
        self.counter = counter
        self.switchState = switchState
    }

    public static func start() async throws -> StandInHTTPServer {
        let requests = Counter()
        let alternations = PathCounter()
        let switchState = SwitchState()
        let router = Router()
        for prefix in ["ok", "fail", "flaky", "slow", "alternate", "switch"] {
            for path in [prefix, "\(prefix)/**"] {
                router.get(RouterPath(path)) { request, _ in
                    let count = requests.next()
                    switch prefix {
                    case "fail": return Response(status: .serviceUnavailable)
                    case "flaky" where count % 3 == 0: return Response(status: .serviceUnavailable)
                    case "alternate" where alternations.next(request.uri.path) % 2 == 0:
                        return Response(status: .serviceUnavailable)
                    case "switch" where !switchState.healthy.withLock({ $0 }): return Response(status: .serviceUnavailable)
                    case "slow": try await Task.sleep(for: .seconds(2))
                    default: break
                    }
                    return HealthyAnswers.response(for: request.uri.path)
                }
            }
        }
        let server = try await LiveServer.start(router: router)
        return StandInHTTPServer(port: server.port, services: server.services, running: server.running,
                                 counter: requests, switchState: switchState)
    }

    public func stop() async {
        await services.triggerGracefulShutdown()
        _ = try? await running.value
    }
}

/// Counts requests per path, so each `/alternate/<name>` alternates on its own.
final class PathCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func next(_ path: String) -> Int {
        counts.withLock { counts in
            counts[path, default: 0] += 1
            return counts[path, default: 0]
        }
    }
}

/// Whether `/switch` is healthy, shared with the server's tasks.
final class SwitchState: Sendable {
    let healthy = Mutex(true)
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

    /// `host`: the loopback address to listen on (another than 127.0.0.1 for tests that
    /// need an address a certificate does not name).
    public static func start<Builder: HTTPResponderBuilder>(router: Builder, server: HTTPServerBuilder = .http1(),
                                                           host: String = "127.0.0.1") async throws -> LiveServer
    where Builder.Responder.Context: RequestContext, Builder.Responder.Context.Source == ApplicationRequestContextSource {
        var logger = Logger(label: "stand-in")
        logger.logLevel = .warning
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: 0)),
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

/// What healthy targets of each kind answer, by path.
enum HealthyAnswers {
    static func response(for path: String) -> Response {
        func body(_ text: String, _ type: String = "application/json") -> Response {
            Response(status: .ok, headers: [.contentType: type], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        if path.hasSuffix("/-/ready") { return body("Prometheus Server is Ready.\n", "text/plain") }
        if path.hasSuffix("/api/v1/status/buildinfo") {
            return body(#"{"status":"success","data":{"version":"2.42.0","revision":"stand-in"}}"#)
        }
        if path.hasSuffix("/api/v1/query") { return body(#"{"status":"success","data":{"resultType":"vector","result":[]}}"#) }
        if path.hasSuffix("/api/health") { return body(#"{"commit":"stand-in","database":"ok","version":"10.4.0"}"#) }
        if path.hasSuffix("/api/search") { return body("[]") }
        if path.hasSuffix("/version") {
            return body(#"{"major":"1","minor":"29","gitVersion":"v1.29.4-stand-in"}"#)
        }
        if path.hasSuffix("/readyz") { return body("ok", "text/plain") }
        if path.hasSuffix("/index.yaml") {
            return body("apiVersion: v1\nentries:\n  demo:\n    - name: demo\n      version: 1.0.0\n", "application/x-yaml")
        }
        return body("ok\n", "text/plain")
    }
}
