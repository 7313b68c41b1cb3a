import Foundation
import GRDB
import StoreContract

/// One process owns a SQLite data folder (the folder's lock), so it is the only live member,
/// and its jobs need only wait for each other.
extension SQLiteConnectionStore {
    public func heartbeat(_ id: String, startedAt: Date, ownedConnections: Int, address: String?,
                          ttl: Duration, endedAfter: Duration) async throws -> ReplicaHeartbeat {
        let now = Date().storageMilliseconds
        let oldest = now - ttl.storageMilliseconds
        return try await write { db in
            let wasMember = try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM replica_members WHERE id = ? AND heartbeat_at >= ?)
                """, arguments: [id, oldest]) ?? false
            try db.execute(sql: """
                INSERT INTO replica_members (id, started_at, heartbeat_at, owned_connections, address)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                    owned_connections = excluded.owned_connections, address = excluded.address
                """, arguments: [id, startedAt.storageMilliseconds, now, ownedConnections, address])
            // Rows of processes long gone (a crash leaves its row) are forgotten after a day.
            try db.execute(sql: "DELETE FROM replica_members WHERE heartbeat_at < ?", arguments: [now - 86_400_000])
            let members = try Row.fetchAll(db, sql: """
                SELECT id, started_at, heartbeat_at, owned_connections, address FROM replica_members
                WHERE heartbeat_at >= ? ORDER BY id
                """, arguments: [oldest]).map { row in
                ReplicaMember(id: row["id"], startedAt: Date(storageMilliseconds: row["started_at"]),
                              heartbeatAt: Date(storageMilliseconds: row["heartbeat_at"]),
                              ownedConnections: row["owned_connections"], address: row["address"])
            }
            return ReplicaHeartbeat(members: members, wasMember: wasMember)
        }
    }

    public func leave(_ id: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM replica_members WHERE id = ?", arguments: [id]) }
    }

    public func exclusively<T: Sendable>(_ job: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let key = "\(fileHealth.path)|\(job)"
        await SQLiteJobs.shared.acquire(key)
        do {
            let value = try await body()
            await SQLiteJobs.shared.release(key)
            return value
        } catch {
            await SQLiteJobs.shared.release(key)
            throw error
        }
    }
}

/// Jobs running on SQLite stores in this process. Another process cannot open the folder
/// (its lock), so waiting here is all it takes for a job to run alone.
private actor SQLiteJobs {
    static let shared = SQLiteJobs()
    private var running: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    func acquire(_ key: String) async {
        if running.insert(key).inserted { return }
        await withCheckedContinuation { waiting[key, default: []].append($0) }
    }

    /// Hands the job straight to the next waiter, if any.
    func release(_ key: String) {
        if var queue = waiting[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[key] = queue.isEmpty ? nil : queue
            next.resume()
        } else {
            running.remove(key)
        }
    }
}
