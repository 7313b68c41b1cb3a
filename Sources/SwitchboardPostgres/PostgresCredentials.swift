import ConnectionLifecycle
import Foundation
import PostgresNIO
import StoreContract

extension PostgresConnectionStore {
    /// Stores a credential written along with a connection change, with its audit record.
    static func save(_ write: CredentialWrite, _ db: PostgresConnection) async throws {
        try await save(write.credential, db)
        if let audit = write.audit { try await append(audit, db) }
    }

    static func save(_ c: SealedCredential, _ db: PostgresConnection) async throws {
        try await db.run("""
            INSERT INTO credentials (id, name, type, owner, key_id, secret, created_at, updated_at, owned_by_connection)
            VALUES (\(c.id), \(c.name), \(c.type), \(c.owner), \(c.keyId), \(c.sealedSecret), \(c.createdAt.storageMilliseconds),
                \(c.updatedAt.storageMilliseconds), \(c.ownedByConnection))
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, key_id = excluded.key_id,
                secret = excluded.secret, updated_at = excluded.updated_at
            """)
    }

    static func append(_ e: AuditEvent, _ db: PostgresConnection) async throws {
        try await db.run("""
            INSERT INTO audit_events (subject_type, subject_id, action, actor, actor_role, detail, correlation_id, at)
            VALUES (\(e.subjectType), \(e.subjectId), \(e.action.rawValue), \(e.actor), \(e.actorRole.rawValue), \(e.detail),
                \(e.correlationId), \(e.at.storageMilliseconds))
            """)
    }

    public func sealedCredential(id: UUID) async throws -> SealedCredential? {
        try await read { db in try await db.rows("SELECT * FROM credentials WHERE id = \(id)").first.map(PostgresRows.credential) }
    }

    public func sealedCredentials(_ query: CredentialQuery) async throws -> (credentials: [SealedCredential], totalCount: Int) {
        func filtered(_ head: String) -> SQLBuilder {
            var sql = SQLBuilder()
            sql.append(head)
            var conditions: [String] = []
            if let owner = query.owner { conditions.append("owner = \(sql.bind(owner))") }
            if let search = query.search, !search.isEmpty {
                conditions.append(#"name ILIKE \#(sql.bind(ConnectionQuery.containsPattern(search))) ESCAPE '\'"#)
            }
            if !conditions.isEmpty { sql.append(" WHERE " + conditions.joined(separator: " AND ")) }
            return sql
        }
        let count = filtered("SELECT count(*) FROM credentials").query
        var page = filtered("SELECT * FROM credentials")
        page.append(" ORDER BY name, id LIMIT \(page.bind(query.pageSize)) OFFSET \(page.bind(query.page * query.pageSize))")
        let pageQuery = page.query
        return try await read { db in
            let total = try await db.rows(count).first?.decode(Int64.self) ?? 0
            return (try await db.rows(pageQuery).map(PostgresRows.credential), Int(total))
        }
    }

    public func insertCredential(_ credential: SealedCredential, audit: AuditEvent) async throws {
        try await write { db in
            if try await db.run("SELECT 1 FROM credentials WHERE id = \(credential.id)") > 0 {
                throw StoreError.duplicate(credential.id)
            }
            try await Self.save(credential, db)
            try await Self.append(audit, db)
        }
    }

    public func updateCredential(_ credential: SealedCredential, expectedUpdatedAt: Date, audit: AuditEvent) async throws {
        let c = credential, expected = expectedUpdatedAt.storageMilliseconds
        try await write { db in
            let changed = try await db.run("""
                UPDATE credentials SET name = \(c.name), type = \(c.type), key_id = \(c.keyId), secret = \(c.sealedSecret),
                    updated_at = \(c.updatedAt.storageMilliseconds)
                WHERE id = \(c.id) AND updated_at = \(expected) RETURNING 1
                """)
            guard changed > 0 else {
                throw try await Self.failedCompareAndSet("credentials", c.id, expected: expected,
                                                         missing: .credentialNotFound(c.id), db)
            }
            try await Self.append(audit, db)
        }
    }

    public func deleteCredential(id: UUID, audit: AuditEvent) async throws {
        try await write { db in
            let users = try await db.rows("""
                SELECT id FROM connections WHERE credential_id = \(id) AND status <> 'deleted' ORDER BY id
                """).map { try $0.decode(UUID.self) }
            guard users.isEmpty else { throw StoreError.credentialInUse(id, by: users) }
            guard try await db.run("DELETE FROM credentials WHERE id = \(id) RETURNING 1") > 0 else {
                throw StoreError.credentialNotFound(id)
            }
            try await Self.append(audit, db)
        }
    }

    public func deleteCredentialIfUnused(id: UUID, audit: AuditEvent) async throws -> Bool {
        try await write { db in
            let used = try await db.run("""
                SELECT 1 FROM connections WHERE credential_id = \(id) AND status <> 'deleted' LIMIT 1
                """) > 0
            guard !used else { return false }
            guard try await db.run("DELETE FROM credentials WHERE id = \(id) AND owned_by_connection RETURNING 1") > 0 else {
                return false
            }
            try await Self.append(audit, db)
            return true
        }
    }

    public func auditEvents(subjectId: UUID) async throws -> [AuditEvent] {
        try await read { db in
            try await db.rows("SELECT * FROM audit_events WHERE subject_id = \(subjectId) ORDER BY sequence").map(PostgresRows.audit)
        }
    }

    public func resealCredentials(notUnder keyId: String, limit: Int,
                                  _ reseal: @Sendable (SealedCredential) throws -> SealedCredential) async throws -> Int {
        // Read and re-seal first (the closure is not escaping), then write them with a
        // compare-and-set on the sealed bytes, in one transaction. A row changed meanwhile is
        // left as it is and still counted, so the caller asks again and finds it once more.
        let rows = try await read { db in
            try await db.rows("SELECT * FROM credentials WHERE key_id <> \(keyId) ORDER BY id LIMIT \(limit)")
                .map(PostgresRows.credential)
        }
        let resealed = try rows.map { (old: $0, new: try reseal($0)) }
        return try await write { db in
            for (old, new) in resealed {
                try await db.run("""
                    UPDATE credentials SET key_id = \(new.keyId), secret = \(new.sealedSecret)
                    WHERE id = \(old.id) AND key_id = \(old.keyId) AND secret = \(old.sealedSecret) RETURNING 1
                    """)
            }
            return resealed.count
        }
    }
}
