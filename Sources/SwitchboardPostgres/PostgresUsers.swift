import ConnectionLifecycle
import Foundation
import PostgresNIO
import StoreContract

extension PostgresConnectionStore {
    public func user(named name: String) async throws -> User? {
        try await read { db in try await db.rows("SELECT * FROM users WHERE name = \(name)").first.map(PostgresRows.user) }
    }

    public func insertUser(_ user: User) async throws {
        try await write { db in
            try await db.run("""
                INSERT INTO users (id, name, role, created_at)
                VALUES (\(user.id), \(user.name), \(user.role.rawValue), \(user.createdAt.storageMilliseconds))
                """)
        }
    }

    public func insertToken(_ t: APIToken) async throws {
        try await write { db in
            try await db.run("""
                INSERT INTO api_tokens (id, user_id, name, hash, created_at, expires_at, revoked_at)
                VALUES (\(t.id), \(t.userId), \(t.name), \(t.hash), \(t.createdAt.storageMilliseconds),
                    \(t.expiresAt?.storageMilliseconds), \(t.revokedAt?.storageMilliseconds))
                """)
        }
    }

    public func token(hash: String) async throws -> (APIToken, User)? {
        try await read { db in
            try await db.rows("""
                SELECT t.*, u.name AS user_name, u.role AS user_role, u.created_at AS user_created_at
                FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = \(hash)
                """).first.map(PostgresRows.tokenAndUser)
        }
    }

    public func tokens() async throws -> [(APIToken, User)] {
        try await read { db in
            try await db.rows("""
                SELECT t.*, u.name AS user_name, u.role AS user_role, u.created_at AS user_created_at
                FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.created_at DESC, t.id
                """).map(PostgresRows.tokenAndUser)
        }
    }

    public func revokeToken(id: UUID, at date: Date) async throws -> Bool {
        try await write { db in
            try await db.run("""
                UPDATE api_tokens SET revoked_at = coalesce(revoked_at, \(date.storageMilliseconds)) WHERE id = \(id) RETURNING 1
                """) > 0
        }
    }

    public func userNames(ids: Set<UUID>) async throws -> [UUID: String] {
        guard !ids.isEmpty else { return [:] }
        let list = Array(ids)
        return try await read { db in
            var names: [UUID: String] = [:]
            for row in try await db.rows("SELECT id, name FROM users WHERE id = ANY(\(list))") {
                let (id, name) = try row.decode((UUID, String).self)
                names[id] = name
            }
            return names
        }
    }

    public func adminCount() async throws -> Int {
        try await read { db in
            Int(try await db.rows("""
                SELECT count(DISTINCT u.id) FROM users u JOIN api_tokens t ON t.user_id = u.id
                WHERE u.role = 'admin' AND t.revoked_at IS NULL
                """).first?.decode(Int64.self) ?? 0)
        }
    }
}
