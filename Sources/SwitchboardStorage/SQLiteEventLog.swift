import ConnectionLifecycle
import Foundation
import StoreContract
import GRDB

extension SQLiteConnectionStore {
    public func eventLog(_ query: EventLogQuery) async throws -> [LifecycleEvent] {
        var conditions = ["e.sequence > ?"]
        var arguments: [String] = []
        func anyOf(_ expression: String, _ values: [String]) {
            guard !values.isEmpty else { return }
            conditions.append("\(expression) IN (\(Array(repeating: "?", count: values.count).joined(separator: ", ")))")
            arguments += values
        }
        anyOf("e.connection_id", query.connections.map(\.lowercasedString))
        anyOf("c.kind", query.kinds)
        if !query.environments.isEmpty {
            conditions.append("e.connection_id IN (SELECT connection_id FROM environment_connections WHERE environment_id IN (\(Array(repeating: "?", count: query.environments.count).joined(separator: ", "))))")
            arguments += query.environments.map(\.lowercasedString)
        }
        if let owner = query.owner {
            if let user = query.sharedWith {
                conditions.append("""
                    (c.owner = ? OR e.connection_id IN (SELECT ec.connection_id FROM environment_connections ec
                        JOIN environment_shares es ON es.environment_id = ec.environment_id WHERE es.user_id = ?))
                    """)
                arguments += [owner.lowercasedString, user.lowercasedString]
            } else {
                conditions.append("c.owner = ?")
                arguments.append(owner.lowercasedString)
            }
        }
        let sql = """
            SELECT e.* FROM events e JOIN connections c ON c.id = e.connection_id
            WHERE \(conditions.joined(separator: " AND ")) ORDER BY e.sequence LIMIT ?
            """
        let values = arguments
        return try await read { db in
            try Row.fetchAll(db, sql: sql, arguments: [query.after] + StatementArguments(values) + [query.limit])
                .map(EventRow.event(from:))
        }
    }

    public func latestEventSequence() async throws -> Int64 {
        try await read { db in try Int64.fetchOne(db, sql: "SELECT MAX(sequence) FROM events") ?? 0 }
    }
}
