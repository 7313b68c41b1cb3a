import Foundation

/// One `switchboard serve` process among those that share a store, as its row says.
public struct ReplicaMember: Sendable, Hashable {
    public var id: String
    public var startedAt: Date
    /// The last heartbeat, by the database's clock (so replicas on machines whose clocks
    /// disagree still agree on who is alive).
    public var heartbeatAt: Date
    /// How many connections it watched at that heartbeat.
    public var ownedConnections: Int
    /// Where it serves, as it said (its advertised URL).
    public var address: String?

    public init(id: String, startedAt: Date, heartbeatAt: Date, ownedConnections: Int, address: String?) {
        self.id = id
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.ownedConnections = ownedConnections
        self.address = address
    }
}

/// What a heartbeat answers.
public struct ReplicaHeartbeat: Sendable, Hashable {
    /// The live members, by id (the caller among them).
    public var members: [ReplicaMember]
    /// Whether the caller's id was a live member before this heartbeat.
    public var wasMember: Bool

    public init(members: [ReplicaMember], wasMember: Bool) {
        self.members = members
        self.wasMember = wasMember
    }
}

/// The replicas that share this store and the jobs only one of them may run at a time.
/// With SQLite one process owns the data folder, so it is the only member and its jobs are
/// exclusive by construction.
public protocol ReplicaRegistry: Sendable {
    /// Records that `id` is alive now, by the database's clock (its row is made on the first
    /// call), and answers the members whose last heartbeat is within `ttl`, by id, and
    /// whether `id` was one of them before this call (a process restarted under the same id
    /// within the TTL is a member the others never lost).
    ///
    /// A store that can see a member's process end (PostgreSQL: each member holds a session
    /// lock, released the moment its connection closes, as when the process is killed) drops
    /// an ended member once its heartbeat is older than `endedAfter`, without waiting out the
    /// TTL; it does so only while the caller's own heartbeats are that recent (silence from all
    /// is more likely the database's outage than everyone's death). SQLite has one process.
    func heartbeat(_ id: String, startedAt: Date, ownedConnections: Int, address: String?,
                   ttl: Duration, endedAfter: Duration) async throws -> ReplicaHeartbeat
    /// Removes the row of `id`: a replica that stops says so, and the others take its share
    /// at their next heartbeat instead of a member TTL later.
    func leave(_ id: String) async throws
    /// Runs `body` while no other process runs a job named `job` on this store, waiting for
    /// one that does (start-up repairs and imports, re-sealing under a new key). The job must
    /// still be safe to run twice: a replica started later runs it again.
    func exclusively<T: Sendable>(_ job: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T
}
