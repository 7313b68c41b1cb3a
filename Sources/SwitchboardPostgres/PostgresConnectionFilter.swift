import ConnectionLifecycle
import Foundation
import PostgresNIO
import StoreContract

/// A statement built from fixed SQL fragments and bound values (`$1`, `$2`, …): values are
/// never spliced into the text.
struct SQLBuilder {
    private(set) var text = ""
    private(set) var binds = PostgresBindings()

    /// Appends a fixed fragment.
    mutating func append(_ fragment: String) { text += fragment }

    /// Binds `value` and answers its placeholder.
    mutating func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: text, binds: binds) }
}

/// The WHERE and ORDER BY of a connection list (see `ConnectionQuery`).
enum PostgresConnectionFilter {
    /// Appends ` WHERE …` (or nothing) for `query`'s filters.
    static func appendWhere(_ query: ConnectionQuery, to sql: inout SQLBuilder) {
        var conditions: [String] = []
        if !query.kinds.isEmpty { conditions.append("kind = ANY(\(sql.bind(query.kinds)))") }
        // Tombstones stay out of lists unless asked for by status.
        let statuses = query.statuses.isEmpty ? ConnectionStatus.allCases.filter { $0 != .deleted } : query.statuses
        conditions.append("status = ANY(\(sql.bind(statuses.map(\.wireName))))")
        if !query.types.isEmpty { conditions.append("type = ANY(\(sql.bind(query.types)))") }
        if let owner = query.owner {
            if let user = query.sharedWith {
                conditions.append("""
                    (owner = \(sql.bind(owner)) OR id IN (SELECT ec.connection_id FROM environment_connections ec
                        JOIN environment_shares es ON es.environment_id = ec.environment_id WHERE es.user_id = \(sql.bind(user))))
                    """)
            } else {
                conditions.append("owner = \(sql.bind(owner))")
            }
        }
        if !query.environments.isEmpty {
            conditions.append("""
                id IN (SELECT connection_id FROM environment_connections WHERE environment_id = ANY(\(sql.bind(query.environments))))
                """)
        }
        if let name = query.name, !name.isEmpty {
            conditions.append(#"name ILIKE \#(sql.bind(ConnectionQuery.containsPattern(name))) ESCAPE '\'"#)
        }
        if let search = query.search, !search.isEmpty {
            let pattern = sql.bind(ConnectionQuery.containsPattern(search))
            conditions.append(#"(name ILIKE \#(pattern) ESCAPE '\' OR url ILIKE \#(pattern) ESCAPE '\')"#)
        }
        sql.append(" WHERE " + conditions.joined(separator: " AND "))
    }

    /// ` ORDER BY column dir, id dir`: `id` breaks ties so that pages never overlap or skip rows.
    static func orderClause(_ order: ConnectionOrder) -> String {
        let direction = order.descending ? "DESC" : "ASC"
        return " ORDER BY \(order.field.column) \(direction), id \(direction)"
    }


}
