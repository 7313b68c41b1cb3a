import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import Hummingbird
import Logging
import NIOCore
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

    public init(host: String = "127.0.0.1", port: Int = 9081, dataDirectory: String = "./switchboard-data",
                checkTimeout: Duration = .seconds(5)) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.checkTimeout = checkTimeout
    }

    public var databasePath: String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("switchboard.sqlite").path
    }
}

/// Builds the parts (store, drivers, engine, router) and runs them until a shutdown signal.
public enum SwitchboardApp {
    /// The router with every API route; tests drive it in-process.
    public static func router(engine: ConnectionEngine) -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(ProblemMiddleware(kinds: engine.kinds))
        SystemRoutes(engine: engine).register(on: router)
        WebPageRoutes().register(on: router)
        ConnectionRoutes(engine: engine).register(on: router)
        return router
    }

    /// The engine over `store`, with every kind checked by the generic HTTP driver.
    public static func engine(store: any ConnectionStore, httpClient: HTTPClient, checkTimeout: Duration,
                              logger: Logger) -> ConnectionEngine {
        let driver = HTTPReachabilityDriver(client: httpClient, timeout: checkTimeout, logger: logger)
        return ConnectionEngine(store: store, drivers: DriverCatalog(fallback: driver), logger: logger)
    }

    /// Runs the server until SIGTERM or SIGINT, then shuts down gracefully. `onRunning`
    /// receives the address once the server listens.
    public static func run(_ configuration: ServerConfiguration, logger: Logger,
                           onRunning: @escaping @Sendable (String) async -> Void = { _ in }) async throws {
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let store = try SQLiteConnectionStore(path: configuration.databasePath)
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton,
                                    configuration: .init(redirectConfiguration: .disallow))
        let engine = engine(store: store, httpClient: httpClient, checkTimeout: configuration.checkTimeout,
                            logger: logger)
        let app = Application(
            router: router(engine: engine),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "switchboard"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                await onRunning("http://\(configuration.host):\(port)")
            },
            logger: logger
        )
        let services = ServiceGroup(configuration: .init(
            services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await services.run()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        await engine.drainSideEffects()
        try await httpClient.shutdown()
        logger.info("switchboard stopped")
    }
}
