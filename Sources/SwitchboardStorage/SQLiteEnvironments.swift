import ConnectionLifecycle
import Foundation
import StoreContract
import GRDB

extension SQLiteConnectionStore {
    public func environment(id: UUID) async throws -> Environment? {
        try await read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM environments WHERE id = ?"), arguments: [id.lowercasedString])
                .map(EnvironmentRow.environment(from:))
        }
    }

    public func environments(_ query: EnvironmentQuery) async throws -> EnvironmentListing {
        var conditions: [String] = []
        var arguments: [String] = []
        if let owner = query.owner {
            if let user = query.sharedWith {
                conditions.append("(owner = ? OR id IN (SELECT environment_id FROM environment_shares WHERE user_id = ?))")
                arguments += [owner.lowercasedString, user.lowercasedString]
            } else {
                conditions.append("owner = ?")
                arguments.append(owner.lowercasedString)
            }
        }
        if let search = query.search, !search.isEmpty {
            conditions.append(#"name LIKE ? ESCAPE '\'"#)
            arguments.append(ConnectionQuery.containsPattern(search))
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let values = arguments
        return try await read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM environments \(filter)",
                                         arguments: StatementArguments(values)) ?? 0
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM environments \(filter) ORDER BY name, id LIMIT ? OFFSET ?",
                                        arguments: StatementArguments(values) + [query.pageSize, query.page * query.pageSize])
            return EnvironmentListing(environments: try rows.map(EnvironmentRow.environment(from:)), totalCount: total)
        }
    }

    public func insertEnvironment(_ environment: Environment, members: [UUID], audit: AuditEvent) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO environments (id, name, description, owner, metadata, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [environment.id.lowercasedString, environment.name, environment.description,
                                 environment.owner?.lowercasedString, JSONText.encode(environment.metadata),
                                 environment.createdAt.storageMilliseconds, environment.updatedAt.storageMilliseconds])
            for member in members {
                try Self.addMember(member, to: environment.id, at: environment.createdAt, db)
            }
            try Self.append(audit, db)
        }
    }

    public func updateEnvironment(_ environment: Environment, expectedUpdatedAt: Date, audit: AuditEvent) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE environments SET name = ?, description = ?, metadata = ?, updated_at = ? WHERE id = ? AND updated_at = ?
                """, arguments: [environment.name, environment.description, JSONText.encode(environment.metadata),
                                 environment.updatedAt.storageMilliseconds, environment.id.lowercasedString,
                                 expectedUpdatedAt.storageMilliseconds])
            guard db.changesCount > 0 else {
                throw try Self.failedCompareAndSet("environments", environment.id,
                                                   expected: expectedUpdatedAt.storageMilliseconds,
                                                   missing: .environmentNotFound(environment.id), db)
            }
            try Self.append(audit, db)
        }
    }

    public func deleteEnvironment(id: UUID, audit: AuditEvent) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM environment_connections WHERE environment_id = ?", arguments: [id.lowercasedString])
            try db.execute(sql: "DELETE FROM environment_shares WHERE environment_id = ?", arguments: [id.lowercasedString])
            try db.execute(sql: "DELETE FROM environments WHERE id = ?", arguments: [id.lowercasedString])
            guard db.changesCount > 0 else { throw StoreError.environmentNotFound(id) }
            try Self.append(audit, db)
        }
    }

    public func addMember(_ connectionId: UUID, to environmentId: UUID, audit: AuditEvent) async throws -> Bool {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM environments WHERE id = ?",
                                    arguments: [environmentId.lowercasedString]) ?? false else {
                throw StoreError.environmentNotFound(environmentId)
            }
            let added = try Self.addMember(connectionId, to: environmentId, at: audit.at, db)
            if added { try Self.append(audit, db) }
            return added
        }
    }

    public func removeMember(_ connectionId: UUID, from environmentId: UUID, audit: AuditEvent) async throws {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM environments WHERE id = ?",
                                    arguments: [environmentId.lowercasedString]) ?? false else {
                throw StoreError.environmentNotFound(environmentId)
            }
            try db.execute(sql: "DELETE FROM environment_connections WHERE environment_id = ? AND connection_id = ?",
                           arguments: [environmentId.lowercasedString, connectionId.lowercasedString])
            guard db.changesCount > 0 else { throw StoreError.notFound(connectionId) }
            try Self.append(audit, db)
        }
    }

    public func share(_ environmentId: UUID, with userId: UUID, _ shared: Bool, audit: AuditEvent) async throws -> Bool {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM environments WHERE id = ?",
                                    arguments: [environmentId.lowercasedString]) ?? false else {
                throw StoreError.environmentNotFound(environmentId)
            }
            if shared {
                try db.execute(sql: """
                    INSERT INTO environment_shares (environment_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING
                    """, arguments: [environmentId.lowercasedString, userId.lowercasedString, audit.at.storageMilliseconds])
            } else {
                try db.execute(sql: "DELETE FROM environment_shares WHERE environment_id = ? AND user_id = ?",
                               arguments: [environmentId.lowercasedString, userId.lowercasedString])
            }
            let changed = db.changesCount > 0
            if changed { try Self.append(audit, db) }
            return changed
        }
    }

    public func isShared(_ connectionId: UUID, with userId: UUID) async throws -> Bool {
        try await read { db in
            try Bool.fetchOne(try db.cachedStatement(sql: """
                SELECT 1 FROM environment_connections ec JOIN environment_shares es ON es.environment_id = ec.environment_id
                WHERE ec.connection_id = ? AND es.user_id = ? LIMIT 1
                """), arguments: [connectionId.lowercasedString, userId.lowercasedString]) ?? false
        }
    }

    public func isEnvironmentShared(_ environmentId: UUID, with userId: UUID) async throws -> Bool {
        try await read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM environment_shares WHERE environment_id = ? AND user_id = ?",
                              arguments: [environmentId.lowercasedString, userId.lowercasedString]) ?? false
        }
    }

    public func sharedUsers(of environmentId: UUID) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db, sql: """
                SELECT u.name FROM environment_shares es JOIN users u ON u.id = es.user_id WHERE es.environment_id = ? ORDER BY u.name
                """, arguments: [environmentId.lowercasedString])
        }
    }

    public func environments(ofConnections connectionIds: [UUID]) async throws -> [UUID: [Environment]] {
        guard !connectionIds.isEmpty else { return [:] }
        return try await read { db in
            var memberships: [UUID: [Environment]] = [:]
            for slice in stride(from: 0, to: connectionIds.count, by: 500).map({ connectionIds[$0..<min($0 + 500, connectionIds.count)] }) {
                let rows = try Row.fetchAll(try db.cachedStatement(sql: """
                    SELECT ec.connection_id AS member, e.* FROM environment_connections ec
                    JOIN environments e ON e.id = ec.environment_id
                    WHERE ec.connection_id IN (\(slice.map { _ in "?" }.joined(separator: ","))) ORDER BY e.id
                    """), arguments: StatementArguments(slice.map(\.lowercasedString)))
                for row in rows {
                    guard let connection = UUID(uuidString: row["member"]) else { continue }
                    memberships[connection, default: []].append(try EnvironmentRow.environment(from: row))
                }
            }
            return memberships
        }
    }

    /// The environments one connection belongs to, sorted by id, in the caller's transaction.
    static func environments(ofConnection key: String, _ db: Database) throws -> [Environment] {
        try Row.fetchAll(try db.cachedStatement(sql: """
            SELECT e.* FROM environment_connections ec JOIN environments e ON e.id = ec.environment_id
            WHERE ec.connection_id = ? ORDER BY e.id
            """), arguments: [key]).map(EnvironmentRow.environment(from:))
    }

    /// Adds a live connection to an environment; false when it already was a member.
    private static func addMember(_ connectionId: UUID, to environmentId: UUID, at date: Date, _ db: Database) throws -> Bool {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM connections WHERE id = ? AND status <> 'deleted'",
                                arguments: [connectionId.lowercasedString]) ?? false else {
            throw StoreError.notFound(connectionId)
        }
        try db.execute(sql: """
            INSERT INTO environment_connections (environment_id, connection_id, created_at) VALUES (?, ?, ?)
            ON CONFLICT DO NOTHING
            """, arguments: [environmentId.lowercasedString, connectionId.lowercasedString, date.storageMilliseconds])
        return db.changesCount > 0
    }
}

enum EnvironmentRow {
    static func environment(from row: Row) throws -> Environment {
        guard let id = UUID(uuidString: row["id"]) else {
            throw CorruptRowError(description: "environment id '\(row["id"] as String)' is not a UUID")
        }
        return Environment(
            id: id, name: row["name"], description: row["description"],
            owner: (row["owner"] as String?).flatMap(UUID.init(uuidString:)), metadata: JSONText.decode(row["metadata"]),
            createdAt: Date(storageMilliseconds: row["created_at"]), updatedAt: Date(storageMilliseconds: row["updated_at"]))
    }
}
