import Foundation
import Synchronization

/// What this server knows of each self-registering peer's liveness: when its last heartbeat
/// arrived and when its lease runs out, both on this server's clock (a peer's own clock is
/// never trusted). The lease keeper writes it; the peer kind's driver reads it to verify.
public final class HeartbeatLeases: Sendable {
    /// One peer's lease.
    public struct Lease: Sendable, Hashable {
        /// When its last heartbeat arrived (nil when none has since this server started and
        /// none was recorded before).
        public var lastHeartbeat: Date?
        public var expiresAt: Date

        public init(lastHeartbeat: Date?, expiresAt: Date) {
            self.lastHeartbeat = lastHeartbeat
            self.expiresAt = expiresAt
        }

        public func isAlive(at date: Date) -> Bool { date < expiresAt }
    }

    /// How long a heartbeat keeps a peer alive (`--hub-lease`).
    public let duration: Duration
    private let leases = Mutex<[UUID: Lease]>([:])

    public init(duration: Duration = .seconds(40)) {
        self.duration = duration
    }

    /// Records a heartbeat at `date` and returns the lease it grants.
    @discardableResult
    public func beat(_ id: UUID, at date: Date) -> Lease {
        let lease = Lease(lastHeartbeat: date, expiresAt: date.addingTimeInterval(duration.timeInterval))
        leases.withLock { $0[id] = lease }
        return lease
    }

    /// Sets a lease as it was read back (server start: peers get one lease from now).
    public func restore(_ id: UUID, _ lease: Lease) {
        leases.withLock { $0[id] = lease }
    }

    /// Ends a lease at once (the peer said it is stopping), keeping when it was last heard.
    public func end(_ id: UUID, at date: Date) {
        leases.withLock { $0[id]?.expiresAt = date }
    }

    public func forget(_ id: UUID) {
        _ = leases.withLock { $0.removeValue(forKey: id) }
    }

    public func lease(of id: UUID) -> Lease? {
        leases.withLock { $0[id] }
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    public var timeInterval: TimeInterval {
        TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
    }
}
