import ConnectionLifecycle
import Foundation
import StoreContract
import GRDB

extension SQLiteConnectionStore {
    public func user(named name: String) async throws -> User? {
        try await read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM users WHERE name = ?"), arguments: [name]).map(UserRow.user(from:))
        }
    }

    public func insertUser(_ user: User) async throws {
        try await write { db in
            try db.execute(sql: "INSERT INTO users (id, name, role, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [user.id.lowercasedString, user.name, user.role.rawValue,
                                       user.createdAt.storageMilliseconds])
        }
    }

    public func insertToken(_ token: APIToken) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO api_tokens (id, user_id, name, hash, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [token.id.lowercasedString, token.userId.lowercasedString, token.name, token.hash,
                                 token.createdAt.storageMilliseconds, token.expiresAt?.storageMilliseconds,
                                 token.revokedAt?.storageMilliseconds])
        }
    }

    public func token(hash: String) async throws -> (APIToken, User)? {
        try await read { db in
            try Row.fetchOne(try db.cachedStatement(sql: """
                SELECT t.*, u.name AS user_name, u.role AS user_role, u.created_at AS user_created_at
                FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?
                """), arguments: [hash]).map(UserRow.tokenAndUser(from:))
        }
    }

    public func tokens() async throws -> [(APIToken, User)] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT t.*, u.name AS user_name, u.role AS user_role, u.created_at AS user_created_at
                FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.created_at DESC, t.id
                """).map(UserRow.tokenAndUser(from:))
        }
    }

    public func revokeToken(id: UUID, at date: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                           arguments: [date.storageMilliseconds, id.lowercasedString])
            return db.changesCount > 0
        }
    }

    public func userNames(ids: Set<UUID>) async throws -> [UUID: String] {
        guard !ids.isEmpty else { return [:] }
        let list = ids.map(\.lowercasedString)
        return try await read { db in
            var names: [UUID: String] = [:]
            let marks = Array(repeating: "?", count: list.count).joined(separator: ", ")
            for row in try Row.fetchAll(db, sql: "SELECT id, name FROM users WHERE id IN (\(marks))",
                                        arguments: StatementArguments(list)) {
                if let id = UUID(uuidString: row["id"]) { names[id] = row["name"] }
            }
            return names
        }
    }

    public func adminCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: """
            SELECT COUNT(DISTINCT u.id) FROM users u JOIN api_tokens t ON t.user_id = u.id
            WHERE u.role = 'admin' AND t.revoked_at IS NULL
            """) ?? 0 }
    }
}

enum UserRow {
    static func user(from row: Row) throws -> User {
        guard let id = UUID(uuidString: row["id"]), let role = User.Role(rawValue: row["role"]) else {
            throw CorruptRowError(description: "user row '\(row["id"] as String)' cannot be read")
        }
        return User(id: id, name: row["name"], role: role, createdAt: Date(storageMilliseconds: row["created_at"]))
    }

    static func tokenAndUser(from row: Row) throws -> (APIToken, User) {
        guard let id = UUID(uuidString: row["id"]), let userId = UUID(uuidString: row["user_id"]),
              let role = User.Role(rawValue: row["user_role"]) else {
            throw CorruptRowError(description: "token row '\(row["id"] as String)' cannot be read")
        }
        let token = APIToken(
            id: id, userId: userId, name: row["name"], hash: row["hash"],
            createdAt: Date(storageMilliseconds: row["created_at"]),
            expiresAt: (row["expires_at"] as Int64?).map(Date.init(storageMilliseconds:)),
            revokedAt: (row["revoked_at"] as Int64?).map(Date.init(storageMilliseconds:)))
        let user = User(id: userId, name: row["user_name"], role: role,
                        createdAt: Date(storageMilliseconds: row["user_created_at"]))
        return (token, user)
    }
}
