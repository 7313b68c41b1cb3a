import Foundation

/// One value of a row that `switchboard store copy` moves from one backend to another: the
/// plain kinds both keep (the target converts each to its column's type).
public enum CopiedValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

/// A whole table as copied: its columns and every row, values in column order.
public struct CopiedTable: Sendable {
    public var name: String
    public var columns: [String]
    public var rows: [[CopiedValue]]

    public init(name: String, columns: [String], rows: [[CopiedValue]]) {
        self.name = name
        self.columns = columns
        self.rows = rows
    }

    /// Every table a store keeps, parents before the tables that refer to them (what a copy
    /// moves, in this order). The readiness probe's scratch row is not data and stays behind.
    public static let copiedInOrder = [
        "users", "credentials", "connections", "events", "connection_health", "collected_data", "audit_events",
        "environments", "environment_connections", "environment_shares", "api_tokens", "server_identity",
    ]
}

/// The target of a copy was not empty: a copy adds to nothing, so it never mixes two installations.
public struct CopyTargetNotEmpty: Error, CustomStringConvertible, Sendable {
    public let location: String
    public let tables: [String]

    public init(location: String, tables: [String]) {
        self.location = location
        self.tables = tables
    }

    public var description: String {
        "the database \(location) already holds data (\(tables.joined(separator: ", "))); copy into a new, empty database"
    }
}
