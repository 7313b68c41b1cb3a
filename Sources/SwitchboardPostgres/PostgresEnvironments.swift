import ConnectionLifecycle
import Foundation
import PostgresNIO
import StoreContract

extension PostgresConnectionStore {
    public func environment(id: UUID) async throws -> Environment? {
        try await read { db in try await db.rows("SELECT * FROM environments WHERE id = \(id)").first.map(PostgresRows.environment) }
    }

    public func environments(_ query: EnvironmentQuery) async throws -> EnvironmentListing {
        func filtered(_ head: String) -> SQLBuilder {
            var sql = SQLBuilder()
            sql.append(head)
            var conditions: [String] = []
            if let owner = query.owner {
                if let user = query.sharedWith {
                    conditions.append("""
                        (owner = \(sql.bind(owner)) OR id IN (SELECT environment_id FROM environment_shares WHERE user_id = \(sql.bind(user))))
                        """)
                } else {
                    conditions.append("owner = \(sql.bind(owner))")
                }
            }
            if let search = query.search, !search.isEmpty {
                conditions.append(#"name ILIKE \#(sql.bind(ConnectionQuery.containsPattern(search))) ESCAPE '\'"#)
            }
            if !conditions.isEmpty { sql.append(" WHERE " + conditions.joined(separator: " AND ")) }
            return sql
        }
        let count = filtered("SELECT count(*) FROM environments").query
        var page = filtered("SELECT * FROM environments")
        page.append(" ORDER BY name, id LIMIT \(page.bind(query.pageSize)) OFFSET \(page.bind(query.page * query.pageSize))")
        let pageQuery = page.query
        return try await read { db in
            let total = try await db.rows(count).first?.decode(Int64.self) ?? 0
            return EnvironmentListing(environments: try await db.rows(pageQuery).map(PostgresRows.environment), totalCount: Int(total))
        }
    }

    public func insertEnvironment(_ environment: Environment, members: [UUID], audit: AuditEvent) async throws {
        let e = environment
        try await write { db in
            try await db.run("""
                INSERT INTO environments (id, name, description, owner, metadata, created_at, updated_at)
                VALUES (\(e.id), \(e.name), \(e.description), \(e.owner), \(JSONText.encode(e.metadata)),
                    \(e.createdAt.storageMilliseconds), \(e.updatedAt.storageMilliseconds))
                """)
            for member in members { try await Self.addMember(member, to: e.id, at: e.createdAt, db) }
            try await Self.append(audit, db)
        }
    }

    public func updateEnvironment(_ environment: Environment, expectedUpdatedAt: Date, audit: AuditEvent) async throws {
        let e = environment, expected = expectedUpdatedAt.storageMilliseconds
        try await write { db in
            let changed = try await db.run("""
                UPDATE environments SET name = \(e.name), description = \(e.description), metadata = \(JSONText.encode(e.metadata)),
                    updated_at = \(e.updatedAt.storageMilliseconds)
                WHERE id = \(e.id) AND updated_at = \(expected) RETURNING 1
                """)
            guard changed > 0 else {
                throw try await Self.failedCompareAndSet("environments", e.id, expected: expected,
                                                         missing: .environmentNotFound(e.id), db)
            }
            try await Self.append(audit, db)
        }
    }

    public func deleteEnvironment(id: UUID, audit: AuditEvent) async throws {
        try await write { db in
            try await db.run("DELETE FROM environment_connections WHERE environment_id = \(id)")
            try await db.run("DELETE FROM environment_shares WHERE environment_id = \(id)")
            guard try await db.run("DELETE FROM environments WHERE id = \(id) RETURNING 1") > 0 else {
                throw StoreError.environmentNotFound(id)
            }
            try await Self.append(audit, db)
        }
    }

    public func addMember(_ connectionId: UUID, to environmentId: UUID, audit: AuditEvent) async throws -> Bool {
        try await write { db in
            try await Self.requireEnvironment(environmentId, db)
            let added = try await Self.addMember(connectionId, to: environmentId, at: audit.at, db)
            if added { try await Self.append(audit, db) }
            return added
        }
    }

    public func removeMember(_ connectionId: UUID, from environmentId: UUID, audit: AuditEvent) async throws {
        try await write { db in
            try await Self.requireEnvironment(environmentId, db)
            guard try await db.run("""
                DELETE FROM environment_connections WHERE environment_id = \(environmentId) AND connection_id = \(connectionId)
                RETURNING 1
                """) > 0 else { throw StoreError.notFound(connectionId) }
            try await Self.append(audit, db)
        }
    }

    public func share(_ environmentId: UUID, with userId: UUID, _ shared: Bool, audit: AuditEvent) async throws -> Bool {
        try await write { db in
            try await Self.requireEnvironment(environmentId, db)
            let changed = shared
                ? try await db.run("""
                    INSERT INTO environment_shares (environment_id, user_id, created_at)
                    VALUES (\(environmentId), \(userId), \(audit.at.storageMilliseconds)) ON CONFLICT DO NOTHING RETURNING 1
                    """)
                : try await db.run("""
                    DELETE FROM environment_shares WHERE environment_id = \(environmentId) AND user_id = \(userId) RETURNING 1
                    """)
            if changed > 0 { try await Self.append(audit, db) }
            return changed > 0
        }
    }

    public func isShared(_ connectionId: UUID, with userId: UUID) async throws -> Bool {
        try await read { db in
            try await db.run("""
                SELECT 1 FROM environment_connections ec JOIN environment_shares es ON es.environment_id = ec.environment_id
                WHERE ec.connection_id = \(connectionId) AND es.user_id = \(userId) LIMIT 1
                """) > 0
        }
    }

    public func isEnvironmentShared(_ environmentId: UUID, with userId: UUID) async throws -> Bool {
        try await read { db in
            try await db.run("SELECT 1 FROM environment_shares WHERE environment_id = \(environmentId) AND user_id = \(userId)") > 0
        }
    }

    public func sharedUsers(of environmentId: UUID) async throws -> [String] {
        try await read { db in
            try await db.rows("""
                SELECT u.name FROM environment_shares es JOIN users u ON u.id = es.user_id
                WHERE es.environment_id = \(environmentId) ORDER BY u.name COLLATE "C"
                """).map { try $0.decode(String.self) }
        }
    }

    public func environments(ofConnections connectionIds: [UUID]) async throws -> [UUID: [Environment]] {
        guard !connectionIds.isEmpty else { return [:] }
        return try await read { db in
            var memberships: [UUID: [Environment]] = [:]
            for row in try await db.rows("""
                SELECT ec.connection_id AS member, e.* FROM environment_connections ec
                JOIN environments e ON e.id = ec.environment_id
                WHERE ec.connection_id = ANY(\(connectionIds)) ORDER BY e.id
                """) {
                let member = try row.makeRandomAccess()["member"].decode(UUID.self)
                memberships[member, default: []].append(try PostgresRows.environment(row))
            }
            return memberships
        }
    }

    private static func requireEnvironment(_ id: UUID, _ db: PostgresConnection) async throws {
        guard try await db.run("SELECT 1 FROM environments WHERE id = \(id)") > 0 else {
            throw StoreError.environmentNotFound(id)
        }
    }

    /// Adds a live connection to an environment; false when it already was a member.
    private static func addMember(_ connectionId: UUID, to environmentId: UUID, at date: Date,
                                  _ db: PostgresConnection) async throws -> Bool {
        guard try await db.run("SELECT 1 FROM connections WHERE id = \(connectionId) AND status <> 'deleted'") > 0 else {
            throw StoreError.notFound(connectionId)
        }
        return try await db.run("""
            INSERT INTO environment_connections (environment_id, connection_id, created_at)
            VALUES (\(environmentId), \(connectionId), \(date.storageMilliseconds)) ON CONFLICT DO NOTHING RETURNING 1
            """) > 0
    }
}
