import Foundation
import PostgresNIO
import StoreContract

/// Replicas heartbeat a row each; who is alive is decided by the database's clock, so the
/// machines' clocks need not agree, and by each replica's liveness lock (a killed replica's is
/// released at once). Jobs take a transaction-scoped advisory lock, released when the job ends
/// or its connection drops (a replica killed mid-job frees it).
extension PostgresConnectionStore {
    /// Milliseconds since 1970 by the database server's clock.
    private static let databaseNow = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

    public func heartbeat(_ id: String, startedAt: Date, ownedConnections: Int, address: String?,
                          ttl: Duration, endedAfter: Duration) async throws -> ReplicaHeartbeat {
        let started = startedAt.storageMilliseconds, owned = Int64(ownedConnections)
        let window = ttl.storageMilliseconds, quiet = endedAfter.storageMilliseconds
        // This process's own lock, held from the first heartbeat until it leaves; it is not
        // counted when asking whether `id` was a member before (a restarted replica's fresh lock).
        let own = await livenessLocks.hold(id, waitingAtMost: .seconds(2)) ?? 0
        return try await write { db in
            // A member is live while its heartbeat is within the TTL, unless its heartbeat is
            // older than `endedAfter` and its process has ended (its liveness lock is free).
            let ended = """
                m.heartbeat_at < \(Self.databaseNow) - \(quiet) AND NOT EXISTS (
                    SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        AND l.classid = \(PostgresLivenessLocks.lockClass)::oid AND l.objid = hashtext(m.id)::oid
                        AND l.pid <> \(own))
                """
            let withinTTL = "m.heartbeat_at >= \(Self.databaseNow) - \(window)"
            // Whether `id` was a member before this heartbeat, and whether its own last one is
            // recent: others' silence means they ended only while the caller's own heartbeats got
            // through (after an outage of the database everyone is silent and no lock is held yet).
            let previous = try await db.rows("""
                SELECT \(unescaped: withinTTL) AND NOT (\(unescaped: ended)),
                    m.heartbeat_at >= \(unescaped: Self.databaseNow) - \(quiet)
                FROM replica_members m WHERE m.id = \(id)
                """).first?.decode((Bool, Bool).self)
            let (wasMember, callerBeating) = previous ?? (false, false)
            let live = callerBeating ? "\(withinTTL) AND NOT (\(ended))" : withinTTL
            try await db.run("""
                INSERT INTO replica_members (id, started_at, heartbeat_at, owned_connections, address)
                VALUES (\(id), \(started), \(unescaped: Self.databaseNow), \(owned), \(address))
                ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                    owned_connections = excluded.owned_connections, address = excluded.address
                """)
            // Rows of processes long gone (a crash leaves its row) are forgotten after a day.
            try await db.run("DELETE FROM replica_members WHERE heartbeat_at < \(unescaped: Self.databaseNow) - 86400000")
            var members: [ReplicaMember] = []
            for row in try await db.rows("""
                SELECT id, started_at, heartbeat_at, owned_connections, address FROM replica_members m
                WHERE m.id = \(id) OR (\(unescaped: live)) ORDER BY id
                """) {
                let (id, started, beat, owned, address) = try row.decode((String, Int64, Int64, Int64, String?).self)
                members.append(ReplicaMember(id: id, startedAt: Date(storageMilliseconds: started),
                                             heartbeatAt: Date(storageMilliseconds: beat),
                                             ownedConnections: Int(owned), address: address))
            }
            return ReplicaHeartbeat(members: members, wasMember: wasMember)
        }
    }

    public func leave(_ id: String) async throws {
        await livenessLocks.release(id)
        try await write { db in try await db.run("DELETE FROM replica_members WHERE id = \(id)") }
    }

    public func exclusively<T: Sendable>(_ job: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        // No answer bound: a job (an import, a re-seal) may take minutes; it holds one pooled
        // connection, idle in its transaction, while its own reads and writes use others.
        try await write(answerWithin: nil) { db in
            try await db.run("SELECT pg_advisory_xact_lock(\(Self.jobLockClass), hashtext(\(job)))")
            return try await body()
        }
    }

    /// Job locks use the two-key form, in a class of their own ("SWBJ"); the second key is the
    /// server's `hashtext` of the job's name, as for the liveness locks.
    static let jobLockClass: Int32 = 0x5357_424A
}
