import ConnectionLifecycle
import Foundation
import PostgresNIO
import StoreContract

/// The event log in commit order.
///
/// PostgreSQL takes a sequence value at insert, not at commit: a transaction that took id 5
/// may commit after one that took id 6, and a reader that saw 6 and resumes "after 6" would
/// never see 5. So the ids are serialized: every transaction that appends events first takes
/// a transaction-scoped advisory lock (`pg_advisory_xact_lock`), held until it commits or
/// rolls back, and only then takes its ids. An id is therefore taken only after every
/// transaction holding a smaller one has ended, ids become visible in ascending order, and
/// `sequence > after` never skips one. Writers append their events last (after every row
/// lock they take), so the lock is held for the insert and the commit only, and no writer
/// waits for it while holding a row another lock holder needs. Readers never take it.
public enum PostgresEventLog {
    /// The advisory lock key every event-appending transaction holds to its end.
    public static let lockKey: Int64 = 0x5357_4244_4556_4e54  // "SWBDEVNT"

    /// Appends `events` in this transaction (the caller's `BEGIN`), after taking the lock;
    /// answers their sequences. Anything writing the events table goes through here.
    @discardableResult
    public static func append(_ events: [LifecycleEvent], on db: PostgresConnection) async throws -> [Int64] {
        guard !events.isEmpty else { return [] }
        try await db.run("SELECT pg_advisory_xact_lock(\(lockKey))")
        var sequences: [Int64] = []
        for e in events {
            let rows = try await db.rows("""
                INSERT INTO events (connection_id, from_status, to_status, actor, actor_role, reason, correlation_id, at)
                VALUES (\(e.connectionId), \(e.from?.wireName), \(e.to.wireName), \(e.actor), \(e.actorRole.rawValue),
                    \(e.reason), \(e.correlationId), \(e.at.storageMilliseconds))
                RETURNING sequence
                """)
            for row in rows { sequences.append(try row.decode(Int64.self)) }
        }
        return sequences
    }
}

extension PostgresConnectionStore {
    public func eventLog(_ query: EventLogQuery) async throws -> [LifecycleEvent] {
        var sql = SQLBuilder()
        sql.append("SELECT e.* FROM events e JOIN connections c ON c.id = e.connection_id WHERE e.sequence > ")
        sql.append(sql.bind(query.after))
        if !query.connections.isEmpty { sql.append(" AND e.connection_id = ANY(\(sql.bind(query.connections)))") }
        if !query.kinds.isEmpty { sql.append(" AND c.kind = ANY(\(sql.bind(query.kinds)))") }
        if !query.environments.isEmpty {
            sql.append("""
                 AND e.connection_id IN (SELECT connection_id FROM environment_connections
                    WHERE environment_id = ANY(\(sql.bind(query.environments))))
                """)
        }
        if let owner = query.owner {
            if let user = query.sharedWith {
                sql.append("""
                     AND (c.owner = \(sql.bind(owner)) OR e.connection_id IN (SELECT ec.connection_id FROM environment_connections ec
                        JOIN environment_shares es ON es.environment_id = ec.environment_id WHERE es.user_id = \(sql.bind(user))))
                    """)
            } else {
                sql.append(" AND c.owner = \(sql.bind(owner))")
            }
        }
        sql.append(" ORDER BY e.sequence LIMIT \(sql.bind(query.limit))")
        let statement = sql.query
        return try await read { db in try await db.rows(statement).map(PostgresRows.event) }
    }

    /// The largest committed id: with ids taken in commit order, no smaller one can still appear.
    public func latestEventSequence() async throws -> Int64 {
        try await read { db in
            try await db.rows("SELECT coalesce(max(sequence), 0) FROM events").first?.decode(Int64.self) ?? 0
        }
    }

    public func events(connectionId: UUID, page: Int, pageSize: Int) async throws -> EventPage {
        try await read { db in
            let total = try await db.rows("SELECT count(*) FROM events WHERE connection_id = \(connectionId)")
                .first?.decode(Int64.self) ?? 0
            let rows = try await db.rows("""
                SELECT * FROM events WHERE connection_id = \(connectionId) ORDER BY sequence DESC
                LIMIT \(pageSize) OFFSET \(page * pageSize)
                """)
            return EventPage(events: try rows.map(PostgresRows.event), totalCount: Int(total))
        }
    }
}
