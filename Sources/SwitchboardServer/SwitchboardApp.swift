import AsyncHTTPClient
import ConnectionLifecycle
import CoreMetrics
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import SwitchboardDrivers
import SwitchboardEngine
import StoreBackends
import StoreContract

/// Where and how `switchboard serve` runs.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Holds the SQLite database (unless `databaseURL` names PostgreSQL), the generated
    /// secrets key and the admin token.
    public var dataDirectory: String
    /// A PostgreSQL URL (`--database`); nil for the embedded SQLite file.
    public var databaseURL: String?
    /// How long a verify step waits for the target.
    public var checkTimeout: Duration
    /// Probe cadence, timeout and damping.
    public var monitor: HealthMonitorConfiguration
    /// Whether targets may be link-local or cloud metadata addresses.
    public var outbound: OutboundPolicy
    /// Folders that files named in connection metadata (tokens, passwords, kubeconfigs)
    /// must be in; `nil` allows any.
    public var secretFileDirectories: [String]?
    /// Whether discovery registers reachable `discovered` connections by itself.
    public var autoRegister: Bool
    /// The kinds it does so for; `nil` for every kind.
    public var autoRegisterKinds: Set<String>?
    /// Kubeconfigs imported at start-up (`$KUBECONFIG` or `~/.kube/config`); empty for none.
    public var startupKubeconfigs: [String]
    /// A declared-connections file, loaded at start and on SIGHUP.
    public var connectionsFile: String?
    /// Where the secrets key comes from; by default a key file in the data directory,
    /// generated on first start.
    public var secretsKey: SecretsKeySource
    /// Whether API requests need a bearer token (on, except for embedding and some tests).
    public var requireSignIn: Bool
    /// The certificate and key the listener serves HTTPS with (reloaded on SIGHUP); `nil`
    /// for plain HTTP.
    public var tls: TLSFiles?
    /// How long a registered peer server's heartbeat keeps it `connected` here (`--hub-lease`;
    /// the Kubernetes node-lease figure).
    public var hubLease: Duration = .seconds(40)
    /// The URL others reach this server at (`--advertise-url`, checked with `ServerURL.parse`);
    /// nil: the listener's address, once bound.
    public var advertiseURL: String?
    /// The hub this server registers with and heartbeats to (`--hub`); nil for none.
    public var hub: HubConfiguration?
    /// This process's id among the replicas of one PostgreSQL database (`--replica-id`);
    /// nil: the host name and port.
    public var replicaId: String?
    /// How long a replica's last heartbeat keeps it a member (`--member-ttl`): a replica
    /// gone longer has its connections taken over by the others.
    public var memberTTL: Duration = .seconds(15)

    public init(host: String = "127.0.0.1", port: Int = 9081, dataDirectory: String = "./switchboard-data",
                checkTimeout: Duration = .seconds(5), monitor: HealthMonitorConfiguration = .init(),
                outbound: OutboundPolicy = .init(), secretFileDirectories: [String]? = nil, autoRegister: Bool = true,
                autoRegisterKinds: Set<String>? = nil, startupKubeconfigs: [String] = [], connectionsFile: String? = nil,
                secretsKey: SecretsKeySource = .dataDirectory, requireSignIn: Bool = true, tls: TLSFiles? = nil,
                advertiseURL: String? = nil, hub: HubConfiguration? = nil) {
        self.advertiseURL = advertiseURL
        self.hub = hub
        self.requireSignIn = requireSignIn
        self.tls = tls
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.checkTimeout = checkTimeout
        self.monitor = monitor
        self.outbound = outbound
        self.secretFileDirectories = secretFileDirectories
        self.autoRegister = autoRegister
        self.autoRegisterKinds = autoRegisterKinds
        self.startupKubeconfigs = startupKubeconfigs
        self.connectionsFile = connectionsFile
        self.secretsKey = secretsKey
    }

    public var databasePath: String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("switchboard.sqlite").path
    }

    /// Where the store lives: the PostgreSQL database when one is named, else the SQLite
    /// file in the data folder.
    public var storeLocation: StoreLocation { databaseURL.map { .postgres(url: $0) } ?? .sqlite(path: databasePath) }

    /// Where the first start writes the admin token.
    public var adminTokenPath: String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("admin-token").path
    }

    public var defaultSecretsKeyPath: String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("secrets.key").path
    }
}

/// The key credentials are encrypted with.
public enum SecretsKeySource: Sendable, Hashable {
    /// `<data-dir>/secrets.key`, generated (mode 0600, with a warning) when missing.
    case dataDirectory
    /// A key file the operator keeps (`--secrets-key-file`); it must exist.
    case file(String)
    /// The key itself, base64 (`SWITCHBOARD_SECRETS_KEY`).
    case base64(String)
}

/// The parts of a running server, wired together.
public struct SwitchboardParts: Sendable {
    public let engine: ConnectionEngine
    public let monitor: HealthMonitor<ContinuousClock>
    public let registry: PrometheusCollectorRegistry
    public let importer: KubeconfigImporter
    /// Checks bearer tokens; `nil` when the server runs without sign-in.
    public let tokens: TokenService?
    /// Keeps the leases of peer servers registered here.
    public let leases: LeaseKeeper
    /// Credentials and environments, over the same store as the engine.
    public let credentials: CredentialService
    public let environments: EnvironmentService
    /// The URL others reach this server at (`GET /api/system/server`, the hub link).
    public let address: AdvertisedAddress
    /// This replica's row among those sharing the store (`GET /api/system/replicas`).
    public let membership: ReplicaMembership
    /// Change streams open now (ended at shutdown).
    let streams = OpenStreams()

    /// Ends every open change stream (graceful shutdown; tests).
    public func closeStreams() { streams.closeAll() }
}

/// Builds the parts (store, drivers, engine, monitor, router) and runs them until a
/// shutdown signal.
public enum SwitchboardApp {
    /// The router with every route; tests drive it in-process.
    public static func router(_ parts: SwitchboardParts) -> Router<BasicRequestContext> {
        let router = Router()
        let routes = RouteTable()
        router.middlewares.add(ProblemMiddleware(kinds: parts.engine.kinds, routes: routes))
        if let tokens = parts.tokens {
            router.middlewares.add(AuthenticationMiddleware(tokens: tokens))
            router.middlewares.add(ServerTokenScope())
        } else {
            router.middlewares.add(NoSignInMiddleware())
        }
        SystemRoutes(engine: parts.engine, registry: parts.registry, address: parts.address,
                     membership: parts.membership).register(on: router)
        WebPageRoutes().register(on: router)
        let limits = RouteLimits()
        ConnectionRoutes(engine: parts.engine, limits: limits).register(on: router)
        KubernetesImportRoutes(engine: parts.engine, importer: parts.importer, limits: limits).register(on: router)
        CredentialRoutes(credentials: parts.credentials, engine: parts.engine).register(on: router)
        EnvironmentRoutes(environments: parts.environments, engine: parts.engine)
            .register(on: router)
        EventStreamRoutes(engine: parts.engine, streams: parts.streams).register(on: router)
        PeerServerRoutes(keeper: parts.leases, engine: parts.engine).register(on: router)
        routes.record(router.routes.map { ($0.path, $0.method) })
        return router
    }

    /// The engine and monitor over `store`. `replicas`: which connections this process
    /// owns (all of them unless several serve one PostgreSQL database).
    public static func assemble(store: any ConnectionStore, vault: SecretsVault?, httpClient: HTTPClient,
                                configuration: ServerConfiguration, replicas: ReplicaSet = .solo(),
                                logger: Logger) -> SwitchboardParts {
        let registry = PrometheusCollectorRegistry()
        let http = OutboundHTTP(client: httpClient, policy: configuration.outbound,
                                userAgent: "switchboard/\(SwitchboardRelease.version) (replica \(replicas.me))")
        let leases = HeartbeatLeases(duration: configuration.hubLease)
        let credentials = StoredCredentials(
            store: store, vault: vault, files: FileReferenceCredentials(allowedDirectories: configuration.secretFileDirectories))
        let engine = ConnectionEngine(
            store: store,
            kinds: KindCatalog.builtIn.withAutoRegistration(
                only: configuration.autoRegister ? configuration.autoRegisterKinds ?? Set(KindCatalog.builtIn.names) : []),
            drivers: .builtIn(http: http, credentials: credentials, timeout: configuration.checkTimeout, leases: leases),
            vault: vault, credentials: credentials,
            metrics: EngineMetrics(factory: PrometheusMetricsFactory(registry: registry)),
            replicas: replicas, logger: logger)
        let monitor = HealthMonitor(engine: engine, configuration: configuration.monitor, logger: logger)
        let address = AdvertisedAddress(
            configured: configuration.advertiseURL,
            fallback: ServerURL.make(scheme: configuration.tls == nil ? "http" : "https",
                                     host: configuration.host, port: configuration.port))
        return SwitchboardParts(engine: engine, monitor: monitor, registry: registry,
                                importer: KubeconfigImporter(engine: engine, credentials: credentials),
                                tokens: configuration.requireSignIn
                                    ? TokenService(store: store, revocations: RevocationMarker(dataDirectory: configuration.dataDirectory),
                                                   remember: !replicas.isShared)
                                    : nil,
                                leases: LeaseKeeper(engine: engine, leases: leases, logger: logger),
                                credentials: CredentialService(store: store, vault: vault), environments: EnvironmentService(store: store),
                                address: address,
                                membership: ReplicaMembership(engine: engine, ttl: configuration.memberTTL,
                                                              address: { address.current }, logger: logger))
    }

    /// The vault for credentials, from the configured key source.
    static func vault(_ configuration: ServerConfiguration, logger: Logger) throws -> SecretsVault {
        switch configuration.secretsKey {
        case .base64(let text): return try SecretsVault(base64: text)
        case .file(let path): return try SecretsVault.load(keyFile: path)
        case .dataDirectory:
            let path = configuration.defaultSecretsKeyPath
            let (vault, created) = try SecretsVault.loadOrCreate(keyFile: path)
            if created {
                logger.warning("generated a new secrets key; credentials cannot be read without it, so back it up or supply your own with --secrets-key-file or SWITCHBOARD_SECRETS_KEY",
                               metadata: ["file": "\(path)", "key": "\(vault.keyId)"])
            }
            return vault
        }
    }

    /// The outbound HTTP client every driver shares.
    public static func makeHTTPClient() -> HTTPClient {
        OutboundHTTP.makeClient()
    }

    /// Runs the server until SIGTERM or SIGINT, then shuts down gracefully. `onRunning`
    /// receives the address once the server listens.
    public static func run(_ configuration: ServerConfiguration, logger given: Logger,
                           onAdminToken: @escaping @Sendable (_ token: String, _ file: String) -> Void = { _, _ in },
                           onNoAdminToken: @escaping @Sendable () -> Void = {},
                           onRunning: @escaping @Sendable (String) async -> Void = { _ in }) async throws {
        // Bad certificate files or a bad advertised URL end the start before anything else is touched.
        // Replicas share a PostgreSQL database; a SQLite folder has one process.
        let shared = configuration.databaseURL != nil
        let replicaId = configuration.replicaId ?? ReplicaIdentity.default(port: configuration.port)
        var logger = given
        if shared { logger[metadataKey: "replica"] = "\(replicaId)" }
        let certificate = try configuration.tls.map(ListenerCertificate.init(files:))
        if let advertised = configuration.advertiseURL { _ = try ServerURL.parse(advertised, setting: "advertise-url") }
        let folder = try DataFolder.acquire(configuration.dataDirectory, logger: logger)
        defer { folder.release() }
        let vault = try vault(configuration, logger: logger)
        // A damaged or unwritable database refuses to start (where and why) rather than
        // reporting ready and failing every write.
        let opened = try await StoreBackends.openForServing(configuration.storeLocation, logger: logger)
        let store = opened.store
        // Made on the first start and kept in the database: the hub and clients know this server by it.
        let serverId: UUID
        do {
            serverId = try await store.serverIdentity()
        } catch {
            try? await opened.close()
            throw error
        }
        logger.info("server id \(serverId.lowercasedString)")
        let httpClient = makeHTTPClient()
        let parts = assemble(store: store, vault: vault, httpClient: httpClient, configuration: configuration,
                             replicas: shared ? .shared(replicaId) : .solo(replicaId), logger: logger)
        parts.engine.metrics.replica(replicaId)
        let follower = shared ? ChangeFollower(engine: parts.engine, logger: logger) : nil
        let scheme = certificate == nil ? "http" : "https"
        let app = Application(
            router: router(parts),
            server: try certificate.map { try .tls(.http1(), tlsConfiguration: $0.tlsConfiguration) } ?? .http1(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "switchboard"),
            onServerRunning: { [address = parts.address] channel in
                let port = channel.localAddress?.port ?? configuration.port
                address.listenerBound(ServerURL.make(scheme: scheme, host: configuration.host, port: port))
                await onRunning("\(scheme)://\(configuration.host):\(port)")
            },
            logger: logger
        )
        // Shut down in reverse order: open change streams end first, so the server is not held up.
        // The membership row goes after the monitor stopped (so no connection is probed by
        // two replicas) and before the listener (so a load balancer's retry finds another).
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: app), .init(service: parts.membership), .init(service: parts.monitor),
            .init(service: parts.leases), .init(service: OpenStreamsCloser(streams: parts.streams)),
        ]
        if let follower { services.append(.init(service: follower)) }
        services.append(.init(service: ParentDeletionRepair(engine: parts.engine, logger: logger),
                              successTerminationBehavior: .ignore))
        if !configuration.startupKubeconfigs.isEmpty {
            services.append(.init(service: StartupKubeconfigImport(paths: configuration.startupKubeconfigs,
                                                                   importer: parts.importer, logger: logger),
                                  successTerminationBehavior: .ignore))
        }
        if let certificate {
            certificate.logServed("serving HTTPS", logger: logger)
            services.append(.init(service: ListenerCertificateReloader(certificate: certificate, logger: logger)))
        }
        if let file = configuration.connectionsFile {
            services.append(.init(service: DeclaredConnectionsLoader(path: file, engine: parts.engine, logger: logger)))
        }
        // Last, so shut down first: the stop request goes while the server still answers.
        if let hub = configuration.hub {
            services.append(.init(service: HubLink(configuration: hub, store: store, address: parts.address, logger: logger)))
        }
        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            // Known before anything is loaded: what changes meanwhile is followed, and what
            // this replica owns is decided by the live members.
            try await follower?.start()
            do {
                try await parts.membership.join()
            } catch {
                // Not fatal: the heartbeat is tried again every interval; until one is stored a
                // replica of a shared store owns nothing (and a SQLite server everything).
                logger.warning("could not store this server's first heartbeat; trying again", metadata: ["error": "\(error)"])
            }
            let tokens = parts.tokens
            // Once per database at a time: two replicas starting together make one admin.
            switch try await parts.engine.exclusively("bootstrap-admin", {
                try await tokens?.bootstrapAdmin(tokenFile: configuration.adminTokenPath)
            }) {
            case .created(let token)?: onAdminToken(token, configuration.adminTokenPath)
            case .noAdminToken?: onNoAdminToken()
            case .present?, nil: break
            }
            // A check, not a requirement: a store that cannot be read now is reported by /readyz.
            let missing = (try? await parts.credentials.missingSealingKeys()) ?? []
            if !missing.isEmpty {
                logger.error("stored credentials are sealed with keys this server does not have; they cannot be opened here. Give this server the key the others use (--secrets-key-file or SWITCHBOARD_SECRETS_KEY)",
                             metadata: ["missing": "\(missing.sorted().joined(separator: ","))"])
            }
            let engine = parts.engine
            try await engine.exclusively("backfill-fingerprints") { try await engine.backfillFingerprints() }
            try await parts.engine.resumeSessions()
            try await group.run()
        } catch {
            await parts.engine.shutdown()
            try? await httpClient.shutdown()
            throw error
        }
        await parts.engine.shutdown()
        try await httpClient.shutdown()
        do {
            try await opened.close()
        } catch {
            logger.warning("could not close the database cleanly; the next start checks it in full",
                           metadata: ["error": "\(error)"])
        }
        logger.info("switchboard stopped")
    }
}
