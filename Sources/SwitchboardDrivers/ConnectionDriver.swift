import ConnectionLifecycle
import Foundation

/// The outcome of one check of a target.
public struct CheckResult: Sendable, Hashable {
    public var health: HealthState
    /// What went wrong, in words a user can act on (refused, timed out, TLS error, HTTP 401…);
    /// `nil` when reachable.
    public var error: String?
    public var latency: Duration
    /// What the check learned, e.g. a version (shown by ping).
    public var details: [String: String]

    public init(health: HealthState, error: String? = nil, latency: Duration, details: [String: String] = [:]) {
        self.health = health
        self.error = error
        self.latency = latency
        self.details = details
    }

    public var isReachable: Bool { health == .reachable }

    public var latencyMilliseconds: Double {
        latency.timeInterval * 1000
    }
}

/// Where a session keeps what it collects; the store implements it.
public protocol CollectedDataSink: Sendable {
    /// Replaces the value kept under `key` for the connection.
    func saveCollectedData(connectionId: UUID, key: String, value: JSONValue) async throws
    /// Targets the session found that deserve connections of their own (a cluster's
    /// Prometheus and Grafana), all of them each time: discovery creates the unknown ones.
    /// Returns whether all were recorded (a session reports them again otherwise).
    func discovered(_ targets: [DiscoveredTarget], by parent: Connection) async -> Bool
}

extension CollectedDataSink {
    public func discovered(_ targets: [DiscoveredTarget], by parent: Connection) async -> Bool { true }
}

/// Something a session found that should become a connection of its own, reached through
/// its parent (a service behind a Kubernetes API server's proxy, with the cluster's auth).
public struct DiscoveredTarget: Sendable, Hashable {
    public var kind: String
    public var name: String
    public var url: String
    public var metadata: [String: JSONValue]

    public init(kind: String, name: String, url: String, metadata: [String: JSONValue]) {
        self.kind = kind
        self.name = name
        self.url = url
        self.metadata = metadata
    }
}

/// What Switchboard does with the thing a connection points at, for one kind.
public protocol ConnectionDriver: Sendable {
    /// The check a `verify` edge runs before its change commits.
    func verify(_ connection: Connection) async -> CheckResult
    /// The cheap periodic check the health monitor runs.
    func probe(_ connection: Connection, timeout: Duration) async -> CheckResult
    /// What "connected" means for the kind: runs until cancelled, keeping what it collects
    /// in `sink`. Throwing ends the session early (it is restarted while still connected).
    func runSession(_ connection: Connection, sink: any CollectedDataSink) async throws
    /// Whether "connected" runs anything for the kind. A kind with nothing to collect says
    /// `false`: its connected connections are marked in use without a task each (100k idle
    /// session tasks, each with its timer, were a third of the server's memory).
    var hasSession: Bool { get }
    /// The identity of what the connection points at (see `Fingerprint`).
    func fingerprint(of connection: Connection) async -> String?
}

extension ConnectionDriver {
    public var hasSession: Bool { true }

    /// Most kinds are identified by their url.
    public func fingerprint(of connection: Connection) async -> String? {
        Fingerprint.of(kind: connection.kind, url: connection.url)
    }
}

/// The driver for each kind, looked up by kind name.
public struct DriverCatalog: Sendable {
    private let drivers: [String: any ConnectionDriver]
    private let fallback: any ConnectionDriver

    public init(drivers: [String: any ConnectionDriver] = [:], fallback: any ConnectionDriver) {
        self.drivers = drivers
        self.fallback = fallback
    }

    public func driver(for kind: String) -> any ConnectionDriver {
        drivers[kind] ?? fallback
    }

    /// The drivers of every built-in kind, sending requests through `http`; peer servers'
    /// liveness is read from `leases`.
    public static func builtIn(http: OutboundHTTP, credentials: any CredentialSource, timeout: Duration,
                               leases: HeartbeatLeases = HeartbeatLeases()) -> DriverCatalog {
        let generic = GenericHTTPDriver(http: http, timeout: timeout)
        return DriverCatalog(drivers: [
            "prometheus": PrometheusDriver(http: http, credentials: credentials, timeout: timeout),
            "grafana": GrafanaDriver(http: http, credentials: credentials, timeout: timeout),
            "helm": HelmDriver(http: http, credentials: credentials, timeout: timeout),
            "kubernetes": KubernetesDriver(http: http, credentials: credentials, timeout: timeout),
            "meshery": MesheryDriver(leases: leases),
            "http": generic,
        ], fallback: generic)
    }
}

/// A monotonic stopwatch for check latencies.
struct Stopwatch {
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant

    init() { start = clock.now }

    var elapsed: Duration { clock.now - start }
}
