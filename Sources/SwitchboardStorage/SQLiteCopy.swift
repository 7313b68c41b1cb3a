import Foundation
import GRDB
import StoreContract

extension SQLiteConnectionStore {
    /// Every table `CopiedTable.copiedInOrder` names, read in one transaction (one consistent
    /// snapshot), rows by rowid: what `switchboard store copy` moves elsewhere.
    public func copyOut() async throws -> [CopiedTable] {
        try await read { db in
            try CopiedTable.copiedInOrder.map { table in
                let columns = try db.columns(in: table).map(\.name)
                let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
                let rows = try Row.fetchAll(db, sql: "SELECT \(list) FROM \"\(table)\" ORDER BY rowid").map { row in
                    columns.indices.map { index in Self.copied(row[index] as DatabaseValue) }
                }
                return CopiedTable(name: table, columns: columns, rows: rows)
            }
        }
    }

    private static func copied(_ value: DatabaseValue) -> CopiedValue {
        switch value.storage {
        case .null: .null
        case .int64(let number): .integer(number)
        case .double(let number): .real(number)
        case .string(let text): .text(text)
        case .blob(let data): .blob(data)
        }
    }
}
