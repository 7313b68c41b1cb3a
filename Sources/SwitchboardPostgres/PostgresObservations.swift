import ConnectionLifecycle
import Foundation
import PostgresNIO
import StoreContract

extension PostgresConnectionStore {
    public func saveHealth(_ records: [HealthRecord]) async throws {
        guard !records.isEmpty else { return }
        try await write { db in
            for r in records {
                try await db.run("""
                    INSERT INTO connection_health (connection_id, state, checked_at, latency_ms, last_error,
                        consecutive_successes, consecutive_failures)
                    VALUES (\(r.connectionId), \(r.state.rawValue), \(r.checkedAt?.storageMilliseconds), \(r.latencyMilliseconds),
                        \(r.lastError), \(Int64(r.consecutiveSuccesses)), \(Int64(r.consecutiveFailures)))
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
