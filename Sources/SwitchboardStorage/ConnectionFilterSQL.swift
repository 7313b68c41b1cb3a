import StoreContract
import ConnectionLifecycle

/// The WHERE and ORDER BY clauses of a connection list, shared by every SQL store.
/// Values travel as bound arguments, never spliced into the text.
struct ConnectionFilterSQL {
    var whereClause: String
    var arguments: [String]
    var orderClause: String

    init(_ query: ConnectionQuery) {
        var conditions: [String] = []
        var arguments: [String] = []
        func anyOf(_ column: String, _ values: [String]) {
            guard !values.isEmpty else { return }
            conditions.append("\(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ", ")))")
            arguments += values
        }
        anyOf("kind", query.kinds)
        // Tombstones stay out of lists unless asked for by status.
        let statuses = query.statuses.isEmpty
            ? ConnectionStatus.allCases.filter { $0 != .deleted }
            : query.statuses
        anyOf("status", statuses.map(\.wireName))
        anyOf("type", query.types)
        if let owner = query.owner {
            if let user = query.sharedWith {
                conditions.append("""
                    (owner = ? OR id IN (SELECT ec.connection_id FROM environment_connections ec
                        JOIN environment_shares es ON es.environment_id = ec.environment_id WHERE es.user_id = ?))
                    """)
                arguments += [owner.lowercasedString, user.lowercasedString]
            } else {
                conditions.append("owner = ?")
                arguments.append(owner.lowercasedString)
            }
        }
        if !query.environments.isEmpty {
            conditions.append("id IN (SELECT connection_id FROM environment_connections WHERE environment_id IN (\(Array(repeating: "?", count: query.environments.count).joined(separator: ", "))))")
            arguments += query.environments.map(\.lowercasedString)
        }
        if let name = query.name, !name.isEmpty {
            conditions.append(#"name LIKE ? ESCAPE '\'"#)
            arguments.append(ConnectionQuery.containsPattern(name))
        }
        if let search = query.search, !search.isEmpty {
            conditions.append(#"(name LIKE ? ESCAPE '\' OR url LIKE ? ESCAPE '\')"#)
            let pattern = ConnectionQuery.containsPattern(search)
            arguments += [pattern, pattern]
        }
        self.whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        self.arguments = arguments
        let direction = query.order.descending ? "DESC" : "ASC"
        // `id` breaks ties so that pages never overlap or skip rows.
        self.orderClause = "ORDER BY \(query.order.field.column) \(direction), id \(direction)"
    }

    /// One page in order; bind `arguments`, then the page size and offset.
    var pageSQL: String { "SELECT * FROM connections \(whereClause) \(orderClause) LIMIT ? OFFSET ?" }

    /// The matching connections counted by status; bind `arguments`.
    var summarySQL: String { "SELECT status, COUNT(*) AS count FROM connections \(whereClause) GROUP BY status" }


}
