import Foundation
import PostgresNIO
import StoreContract

extension PostgresConnectionStore {
    /// Writes copied tables into this database in one transaction and checks each table's
    /// count there; refuses a database that already holds data (`CopyTargetNotEmpty`).
    /// Identifiers, versions and event numbers are kept, so a resumed change stream and
    /// every token go on working. Answers the rows written per table.
    public func copyIn(_ tables: [CopiedTable]) async throws -> [(table: String, rows: Int)] {
        let location = url.description
        return try await write(answerWithin: nil) { db in
            var holding: [String] = []
            for table in CopiedTable.copiedInOrder
            where try await db.run(PostgresQuery(unsafeSQL: "SELECT 1 FROM \"\(table)\" LIMIT 1")) > 0 {
                holding.append(table)
            }
            guard holding.isEmpty else { throw CopyTargetNotEmpty(location: location, tables: holding) }
            var written: [(table: String, rows: Int)] = []
            for table in tables {
                try await Self.insert(table, db)
                let stored = try await db.rows(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \"\(table.name)\""))
                    .first?.decode(Int.self) ?? -1
                guard stored == table.rows.count else {
                    throw CopyMismatch(table: table.name, expected: table.rows.count, stored: stored)
                }
                written.append((table.name, stored))
            }
            // The planner's statistics, now rather than when autovacuum gets to it: without them
            // the first lists after a copy of 100,000 connections took several times longer.
            for table in tables { try await db.run(PostgresQuery(unsafeSQL: "ANALYZE \"\(table.name)\"")) }
            // New events and audit records are numbered after the copied ones.
            for table in ["events", "audit_events"] {
                try await db.run(PostgresQuery(unsafeSQL: """
                    SELECT setval(pg_get_serial_sequence('\(table)', 'sequence'), coalesce(max(sequence), 0) + 1, false)
                    FROM \(table)
                    """))
            }
            return written
        }
    }

    /// The rows of one table, many to a statement, each value cast to its column's type.
    private static func insert(_ table: CopiedTable, _ db: PostgresConnection) async throws {
        var types: [String: String] = [:]
        for row in try await db.rows("""
            SELECT column_name, udt_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = \(table.name)
            """) {
            let (column, type) = try row.decode((String, String).self)
            types[column] = type
        }
        let casts = try table.columns.map { column in
            guard let type = types[column] else {
                throw CopyMismatch(table: table.name, column: column)
            }
            // SQLite keeps booleans as integers; PostgreSQL casts only a 4-byte one to boolean.
            return type == "bool" ? "::int4::bool" : "::\(type)"
        }
        let columnList = table.columns.map { "\"\($0)\"" }.joined(separator: ", ")
        // PostgreSQL takes at most 65,535 parameters a statement.
        let rowsPerStatement = max(1, 30_000 / max(1, table.columns.count))
        for start in stride(from: 0, to: table.rows.count, by: rowsPerStatement) {
            let rows = table.rows[start..<min(start + rowsPerStatement, table.rows.count)]
            var bindings = PostgresBindings(capacity: rows.count * table.columns.count)
            var tuples: [String] = []
            for row in rows {
                var placeholders: [String] = []
                for (value, cast) in zip(row, casts) {
                    switch value {
                    case .null: bindings.appendNull()
                    case .integer(let number): bindings.append(number)
                    case .real(let number): bindings.append(number)
                    case .text(let text): bindings.append(text)
                    case .blob(let data): try bindings.append(data)
                    }
                    placeholders.append("$\(bindings.count)\(cast)")
                }
                tuples.append("(" + placeholders.joined(separator: ", ") + ")")
            }
            try await db.run(PostgresQuery(
                unsafeSQL: "INSERT INTO \"\(table.name)\" (\(columnList)) VALUES \(tuples.joined(separator: ", "))",
                binds: bindings))
        }
    }
}

/// A copied table that does not fit the target: a column it lacks, or a count that differs.
public struct CopyMismatch: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(table: String, column: String) {
        description = "the target's table \(table) has no column \(column): it was made by another Switchboard version"
    }

    init(table: String, expected: Int, stored: Int) {
        description = "table \(table): \(expected) rows copied but \(stored) stored"
    }
}
