import AsyncHTTPClient
import ConnectionLifecycle
import CoreMetrics
import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import SwitchboardDrivers
import SwitchboardEngine
import SwitchboardStorage

/// Where and how `switchboard serve` runs.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Holds the SQLite database (and, later, the generated keys).
    public var dataDirectory: String
    /// How long a verify step waits for the target.
    public var checkTimeout: Duration
    /// Probe cadence, timeout and damping.
    public var monitor: HealthMonitorConfiguration
    /// Whether targets may be link-local or cloud metadata addresses.
    public var outbound: OutboundPolicy
    /// Folders that files named in connection metadata (tokens, passwords, kubeconfigs)
    /// must be in; `nil` allows any.
    public var secretFileDirectories: [String]?

    public init(host: String = "127.0.0.1", port: Int = 9081, dataDirectory: String = "./switchboard-data",
                checkTimeout: Duration = .seconds(5), monitor: HealthMonitorConfiguration = .init(),
                outbound: OutboundPolicy = .init(), secretFileDirectories: [String]? = nil) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.checkTimeout = checkTimeout
        self.monitor = monitor
        self.outbound = outbound
        self.secretFileDirectories = secretFileDirectories
    }

    public var databasePath: String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("switchboard.sqlite").path
    }
}

/// The parts of a running server, wired together.
public struct SwitchboardParts: Sendable {
    public let engine: ConnectionEngine
    public let monitor: HealthMonitor
    public let registry: PrometheusCollectorRegistry
}

/// Builds the parts (store, drivers, engine, monitor, router) and runs them until a
/// shutdown signal.
public enum SwitchboardApp {
    /// The router with every route; tests drive it in-process.
    public static func router(_ parts: SwitchboardParts) -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(ProblemMiddleware(kinds: parts.engine.kinds))
        SystemRoutes(engine: parts.engine, registry: parts.registry).register(on: router)
        WebPageRoutes().register(on: router)
        ConnectionRoutes(engine: parts.engine).register(on: router)
        return router
    }

    /// The engine and monitor over `store`.
    public static func assemble(store: any ConnectionStore, httpClient: HTTPClient, configuration: ServerConfiguration,
                                logger: Logger) -> SwitchboardParts {
        let registry = PrometheusCollectorRegistry()
        let http = OutboundHTTP(client: httpClient, policy: configuration.outbound)
        let engine = ConnectionEngine(
            store: store,
            drivers: .builtIn(http: http,
                              credentials: FileReferenceCredentials(allowedDirectories: configuration.secretFileDirectories),
                              timeout: configuration.checkTimeout),
            metrics: EngineMetrics(factory: PrometheusMetricsFactory(registry: registry)),
            logger: logger)
        let monitor = HealthMonitor(engine: engine, configuration: configuration.monitor, logger: logger)
        return SwitchboardParts(engine: engine, monitor: monitor, registry: registry)
    }

    /// The outbound HTTP client every driver shares.
    public static func makeHTTPClient() -> HTTPClient {
        OutboundHTTP.makeClient()
    }

    /// Runs the server until SIGTERM or SIGINT, then shuts down gracefully. `onRunning`
    /// receives the address once the server listens.
    public static func run(_ configuration: ServerConfiguration, logger: Logger,
                           onRunning: @escaping @Sendable (String) async -> Void = { _ in }) async throws {
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let store = try SQLiteConnectionStore(path: configuration.databasePath)
        let httpClient = makeHTTPClient()
        let parts = assemble(store: store, httpClient: httpClient, configuration: configuration, logger: logger)
        let app = Application(
            router: router(parts),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "switchboard"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                await onRunning("http://\(configuration.host):\(port)")
            },
            logger: logger
        )
        let services = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: parts.monitor)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await parts.engine.resumeSessions()
            try await services.run()
        } catch {
            await parts.engine.shutdown()
            try? await httpClient.shutdown()
            throw error
        }
        await parts.engine.shutdown()
        try await httpClient.shutdown()
        logger.info("switchboard stopped")
    }
}
