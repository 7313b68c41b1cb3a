import ConnectionLifecycle
import Foundation

/// The `meshery` kind: another Switchboard (or Meshery) server registered here as a spoke.
/// Nothing is sent to it: it reaches this server, and its heartbeats keep a lease in
/// `leases`. Its check is whether that lease is alive; it is identified by its server id.
public struct MesheryDriver: ConnectionDriver {
    /// Where a registration names its server (Meshery's metadata key).
    public static let serverIdKey = "server_id"

    private let leases: HeartbeatLeases
    private let now: @Sendable () -> Date

    public init(leases: HeartbeatLeases, now: @escaping @Sendable () -> Date = { Date() }) {
        self.leases = leases
        self.now = now
    }

    public func verify(_ connection: Connection) async -> CheckResult {
        let at = now()
        guard let lease = leases.lease(of: connection.id) else {
            return CheckResult(health: .unreachable, error: "no heartbeat from this server since the hub started", latency: .zero)
        }
        if lease.isAlive(at: at) { return CheckResult(health: .reachable, latency: .zero) }
        let since = lease.lastHeartbeat.map { "since \($0.formatted(.iso8601))" } ?? "since the hub started"
        return CheckResult(health: .unreachable, error: "no heartbeat \(since)", latency: .zero)
    }

    /// Not probed (`registersItself`): the lease keeper watches it instead.
    public func probe(_ connection: Connection, timeout: Duration) async -> CheckResult {
        await verify(connection)
    }

    /// Heartbeats are its session: nothing runs here for it.
    public var hasSession: Bool { false }

    public func runSession(_ connection: Connection, sink: any CollectedDataSink) async throws {}

    /// One connection per owner and server id, whatever address it moves to.
    public func fingerprint(of connection: Connection) async -> String? {
        if case .string(let id)? = connection.metadata[Self.serverIdKey], let serverId = UUID(uuidString: id) {
            return Self.fingerprint(serverId: serverId)
        }
        return Fingerprint.of(kind: connection.kind, url: connection.url)
    }

    public static func fingerprint(serverId: UUID) -> String {
        Fingerprint.make(kind: "meshery", target: "server:\(serverId.lowercasedString)")
    }
}
