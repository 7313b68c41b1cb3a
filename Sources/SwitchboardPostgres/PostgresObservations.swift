import ConnectionLifecycle
import Foundation
import PostgresNIO
import StoreContract

extension PostgresConnectionStore {
    /// One statement per 5,000 records (arrays unnested): a statement per record could not
    /// keep up with one replica checking 100,000 connections every 15 s (the replicas
    /// benchmark: after a failover, stored checks fell further behind the longer it ran).
    public func saveHealth(_ records: [HealthRecord]) async throws {
        // A statement may touch a row once: of several records of one connection, the newest.
        var newest: [UUID: HealthRecord] = [:]
        for record in records {
            if let kept = newest[record.connectionId], (kept.checkedAt ?? .distantPast) > (record.checkedAt ?? .distantPast) { continue }
            newest[record.connectionId] = record
        }
        guard !newest.isEmpty else { return }
        let all = Array(newest.values)
        try await write { db in
            for start in stride(from: 0, to: all.count, by: 5000) {
                let chunk = all[start..<min(start + 5000, all.count)]
                // Nulls travel as flags beside placeholder values (arrays of optionals do not bind).
                let ids = chunk.map(\.connectionId), states = chunk.map(\.state.rawValue)
                let checked = chunk.map { $0.checkedAt?.storageMilliseconds ?? 0 }, hasChecked = chunk.map { $0.checkedAt != nil }
                let latency = chunk.map { $0.latencyMilliseconds ?? 0 }, hasLatency = chunk.map { $0.latencyMilliseconds != nil }
                let errors = chunk.map { $0.lastError ?? "" }, hasError = chunk.map { $0.lastError != nil }
                let successes = chunk.map { Int64($0.consecutiveSuccesses) }, failures = chunk.map { Int64($0.consecutiveFailures) }
                try await db.run("""
                    INSERT INTO connection_health (connection_id, state, checked_at, latency_ms, last_error,
                        consecutive_successes, consecutive_failures)
                    SELECT id, state, CASE WHEN has_checked THEN checked END, CASE WHEN has_latency THEN latency END,
                        CASE WHEN has_error THEN error END, successes, failures
                    FROM unnest(\(ids)::uuid[], \(states)::text[], \(checked)::bigint[], \(hasChecked)::boolean[],
                        \(latency)::double precision[], \(hasLatency)::boolean[], \(errors)::text[], \(hasError)::boolean[],
                        \(successes)::bigint[], \(failures)::bigint[])
                        AS r(id, state, checked, has_checked, latency, has_latency, error, has_error, successes, failures)
                    ON CONFLICT (connection_id) DO UPDATE SET state = excluded.state, checked_at = excluded.checked_at,
                        latency_ms = excluded.latency_ms, last_error = excluded.last_error,
                        consecutive_successes = excluded.consecutive_successes,
                        consecutive_failures = excluded.consecutive_failures
                    WHERE connection_health.checked_at IS NULL OR excluded.checked_at >= connection_health.checked_at
                    """)
            }
        }
    }

    public func health(of ids: [UUID]) async throws -> [UUID: HealthRecord] {
        guard !ids.isEmpty else { return [:] }
        return try await read { db in
            var records: [UUID: HealthRecord] = [:]
            for row in try await db.rows("SELECT * FROM connection_health WHERE connection_id = ANY(\(ids))") {
                let record = try PostgresRows.health(row)
                records[record.connectionId] = record
            }
            return records
        }
    }

    public func saveCollectedData(connectionId: UUID, key: String, value: JSONValue, at date: Date) async throws {
        try await write { db in
            try await db.run("""
                INSERT INTO collected_data (connection_id, key, value, collected_at)
                VALUES (\(connectionId), \(key), \(JSONText.encode(value)), \(date.storageMilliseconds))
                ON CONFLICT (connection_id, key) DO UPDATE SET value = excluded.value, collected_at = excluded.collected_at
                """)
        }
    }

    public func collectedData(connectionId: UUID) async throws -> [String: CollectedItem] {
        try await read { db in
            var items: [String: CollectedItem] = [:]
            for row in try await db.rows("SELECT key, value, collected_at FROM collected_data WHERE connection_id = \(connectionId)") {
                let (key, value, at) = try row.decode((String, String, Int64).self)
                items[key] = CollectedItem(value: JSONText.decodeValue(value), collectedAt: Date(storageMilliseconds: at))
            }
            return items
        }
    }

    public func purgeCollectedData(connectionId: UUID) async throws {
        try await write { db in
            try await db.run("DELETE FROM collected_data WHERE connection_id = \(connectionId)")
        }
    }
}
