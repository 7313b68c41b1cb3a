import ConnectionLifecycle
import Foundation
import StoreContract
import GRDB

/// The embedded store: one SQLite file in WAL mode, through GRDB.
///
/// Writes are serialized by GRDB's single writer; a transition's compare-and-set and its
/// event append run in one transaction, so a crash keeps both or neither.
public final class SQLiteConnectionStore: ConnectionStore {
    let pool: DatabasePool
    let fileHealth: SQLiteStoreHealth
    private let detailsCache = ConnectionDetailsCache()

    /// Opens (creating if needed, mode 0600) the database at `path` and migrates it to the
    /// latest schema. A file that cannot be opened or migrated throws `StoreUnavailable` naming it.
    public init(path: String) throws {
        fileHealth = SQLiteStoreHealth(path: path)
        var configuration = Configuration()
        // Readers and the writer wait for each other briefly instead of failing at once.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        do {
            try PrivateDatabaseFiles.prepare(path)
            pool = try DatabasePool(path: path, configuration: configuration)
            // Runs before the server serves anything (and from the CLI), so blocking is fine here.
            try SQLiteMigrations.migrator.migrate(pool)
        } catch {
            throw fileHealth.classify(error, .write) ?? error
        }
        PrivateDatabaseFiles.tighten(path)
        pool.add(transactionObserver: detailsCache, extent: .databaseLifetime)
    }

    public func insert(_ connection: Connection, event: LifecycleEvent, credential: CredentialWrite?) async throws {
        try await write { db in
            try Self.insert(connection, db)
            if let credential { try Self.save(credential, db) }
            try Self.append(event, db)
        }
    }

    public func insert(contentsOf items: [(Connection, LifecycleEvent)]) async throws {
        try await write { db in
            for (connection, event) in items {
                try Self.insert(connection, db)
                try Self.append(event, db)
            }
        }
    }

    private static func insert(_ connection: Connection, _ db: Database) throws {
        do {
            try db.execute(sql: """
                INSERT INTO connections (id, name, description, url, kind, type, sub_type, status,
                    credential_id, owner, metadata, created_at, updated_at, deleted_at, version, status_changed_by,
                    fingerprint, parent_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: StatementArguments(ConnectionRow.values(of: connection)))
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw StoreError.duplicate(connection.id)
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            // SQLite may check the fingerprint index before the primary key: a taken id is
            // still a taken id.
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM connections WHERE id = ?",
                                 arguments: [connection.id.lowercasedString]) ?? false {
                throw StoreError.duplicate(connection.id)
            }
            throw try fingerprintConflict(connection, db) ?? error
        }
    }

    /// The duplicate-fingerprint error naming the live connection that holds the fingerprint.
    private static func fingerprintConflict(_ connection: Connection, _ db: Database) throws -> StoreError? {
        guard let fingerprint = connection.fingerprint,
              let existing = try liveConnection(owner: connection.owner, fingerprint: fingerprint, db),
              existing.id != connection.id else { return nil }
        return .duplicateFingerprint(fingerprint, existing: existing.id)
    }

    private static func liveConnection(owner: UUID?, fingerprint: String, _ db: Database) throws -> Connection? {
        try Row.fetchOne(db, sql: """
            SELECT * FROM connections WHERE coalesce(owner, '') = ? AND fingerprint = ? AND status <> 'deleted'
            """, arguments: [owner?.lowercasedString ?? "", fingerprint]).map(ConnectionRow.connection(from:))
    }

    public func updateMany(_ moves: [StoredMove]) async throws -> [UUID: Connection] {
        guard !moves.isEmpty else { return [:] }
        return try await write { db in
            var stored: [UUID: Connection] = [:]
            for move in moves {
                do {
                    guard let written = try Self.compareAndSet(move.connection, expectedVersion: move.expectedVersion, db) else {
                        continue  // Changed meanwhile: the caller decides again.
                    }
                    try Self.append(move.event, db)
                    stored[written.id] = written
                } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                    continue  // The single path names the conflict.
                }
            }
            return stored
        }
    }

    /// Rewrites every column but `id` when the stored version is `expectedVersion` (the
    /// compare-and-set); answers the row as stored, or nil when another change got there first
    /// or there is no such row.
    private static func compareAndSet(_ connection: Connection, expectedVersion: Int64, _ db: Database) throws -> Connection? {
        var stored = connection
        stored.version = expectedVersion + 1
        let values = ConnectionRow.values(of: stored)
        try db.cachedStatement(sql: """
            UPDATE connections SET name = ?, description = ?, url = ?, kind = ?, type = ?, sub_type = ?,
                status = ?, credential_id = ?, owner = ?, metadata = ?, created_at = ?, updated_at = ?,
                deleted_at = ?, version = ?, status_changed_by = ?, fingerprint = ?, parent_id = ?
            WHERE id = ? AND version = ?
            """).execute(arguments: StatementArguments(Array(values.dropFirst()) + [connection.id.lowercasedString, expectedVersion]))
        return db.changesCount == 0 ? nil : stored
    }

    public func connections(ids: [UUID]) async throws -> [UUID: Connection] {
        guard !ids.isEmpty else { return [:] }
        return try await read { db in
            var found: [UUID: Connection] = [:]
            // SQLite limits bound parameters; ask in slices.
            for start in stride(from: 0, to: ids.count, by: 500) {
                let slice = ids[start..<min(start + 500, ids.count)]
                let rows = try Row.fetchAll(db, sql: """
                    SELECT * FROM connections WHERE id IN (\(slice.map { _ in "?" }.joined(separator: ",")))
                    """, arguments: StatementArguments(slice.map(\.lowercasedString)))
                for row in rows {
                    let connection = try ConnectionRow.connection(from: row)
                    found[connection.id] = connection
                }
            }
            return found
        }
    }

    public func liveConnection(owner: UUID?, fingerprint: String) async throws -> Connection? {
        try await read { db in try Self.liveConnection(owner: owner, fingerprint: fingerprint, db) }
    }

    public func latestConnection(owner: UUID?, fingerprint: String) async throws -> Connection? {
        try await read { db in
            if let live = try Self.liveConnection(owner: owner, fingerprint: fingerprint, db) { return live }
            return try Row.fetchOne(db, sql: """
                SELECT * FROM connections WHERE coalesce(owner, '') = ? AND fingerprint = ? AND status = 'deleted'
                ORDER BY updated_at DESC LIMIT 1
                """, arguments: [owner?.lowercasedString ?? "", fingerprint]).map(ConnectionRow.connection(from:))
        }
    }

    public func connectionsWithoutFingerprint(after afterId: UUID?, limit: Int) async throws -> [Connection] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM connections INDEXED BY connections_without_fingerprint
                WHERE fingerprint IS NULL AND status <> 'deleted' AND id > ? ORDER BY id LIMIT ?
                """, arguments: [afterId?.lowercasedString ?? "", limit]).map(ConnectionRow.connection(from:))
        }
    }

    public func children(of parentId: UUID) async throws -> [Connection] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM connections WHERE parent_id = ? AND status <> 'deleted' ORDER BY id
                """, arguments: [parentId.lowercasedString]).map(ConnectionRow.connection(from:))
        }
    }

    public func deletedParentsWithLiveChildren() async throws -> [UUID] {
        try await read { db in
            try String.fetchAll(db, sql: """
                SELECT DISTINCT parent.id FROM connections child JOIN connections parent ON parent.id = child.parent_id
                WHERE parent.status = 'deleted' AND child.status <> 'deleted'
                ORDER BY parent.id
                """).compactMap(UUID.init(uuidString:))
        }
    }

    // MARK: Credentials

    /// Stores a credential written along with a connection change, with its audit record.
    private static func save(_ write: CredentialWrite, _ db: Database) throws {
        try save(write.credential, db)
        if let audit = write.audit { try append(audit, db) }
    }

    private static func save(_ credential: SealedCredential, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO credentials (id, name, type, owner, key_id, secret, created_at, updated_at, owned_by_connection)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, key_id = excluded.key_id,
                secret = excluded.secret, updated_at = excluded.updated_at
            """, arguments: [credential.id.lowercasedString, credential.name, credential.type,
                             credential.owner?.lowercasedString, credential.keyId, credential.sealedSecret,
                             credential.createdAt.storageMilliseconds, credential.updatedAt.storageMilliseconds,
                             credential.ownedByConnection])
    }

    public func sealedCredential(id: UUID) async throws -> SealedCredential? {
        try await read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM credentials WHERE id = ?"), arguments: [id.lowercasedString])
                .map(SealedCredentialRow.credential(from:))
        }
    }

    public func sealedCredentials(_ query: CredentialQuery) async throws -> (credentials: [SealedCredential], totalCount: Int) {
        var conditions: [String] = []
        var arguments: [String] = []
        if let owner = query.owner {
            conditions.append("owner = ?")
            arguments.append(owner.lowercasedString)
        }
        if let search = query.search, !search.isEmpty {
            conditions.append("name LIKE ? ESCAPE '\\'")
            arguments.append(ConnectionQuery.containsPattern(search))
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let values = arguments
        return try await read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM credentials \(filter)",
                                         arguments: StatementArguments(values)) ?? 0
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM credentials \(filter) ORDER BY name, id LIMIT ? OFFSET ?",
                                        arguments: StatementArguments(values) + [query.pageSize, query.page * query.pageSize])
            return (try rows.map(SealedCredentialRow.credential(from:)), total)
        }
    }

    public func insertCredential(_ credential: SealedCredential, audit: AuditEvent) async throws {
        try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM credentials WHERE id = ?",
                                 arguments: [credential.id.lowercasedString]) ?? false {
                throw StoreError.duplicate(credential.id)
            }
            try Self.save(credential, db)
            try Self.append(audit, db)
        }
    }

    public func updateCredential(_ credential: SealedCredential, expectedUpdatedAt: Date, audit: AuditEvent) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE credentials SET name = ?, type = ?, key_id = ?, secret = ?, updated_at = ? WHERE id = ? AND updated_at = ?
                """, arguments: [credential.name, credential.type, credential.keyId, credential.sealedSecret,
                                 credential.updatedAt.storageMilliseconds, credential.id.lowercasedString,
                                 expectedUpdatedAt.storageMilliseconds])
            guard db.changesCount > 0 else {
                throw try Self.failedCompareAndSet("credentials", credential.id, expected: expectedUpdatedAt.storageMilliseconds,
                                                   missing: .credentialNotFound(credential.id), db)
            }
            try Self.append(audit, db)
        }
    }

    public func deleteCredential(id: UUID, audit: AuditEvent) async throws {
        try await write { db in
            let key = id.lowercasedString
            let users = try String.fetchAll(db, sql: """
                SELECT id FROM connections WHERE credential_id = ? AND status <> 'deleted' ORDER BY id
                """, arguments: [key]).compactMap(UUID.init(uuidString:))
            guard users.isEmpty else { throw StoreError.credentialInUse(id, by: users) }
            try db.execute(sql: "DELETE FROM credentials WHERE id = ?", arguments: [key])
            guard db.changesCount > 0 else { throw StoreError.credentialNotFound(id) }
            try Self.append(audit, db)
        }
    }

    public func auditEvents(subjectId: UUID) async throws -> [AuditEvent] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_events WHERE subject_id = ? ORDER BY sequence",
                             arguments: [subjectId.lowercasedString]).map(AuditRow.event(from:))
        }
    }

    public func resealCredentials(notUnder keyId: String, limit: Int,
                                  _ reseal: @Sendable (SealedCredential) throws -> SealedCredential) async throws -> Int {
        try await write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM credentials WHERE key_id <> ? LIMIT ?",
                                        arguments: [keyId, limit]).map(SealedCredentialRow.credential(from:))
            for row in rows {
                let resealed = try reseal(row)
                try db.execute(sql: "UPDATE credentials SET key_id = ?, secret = ? WHERE id = ?",
                               arguments: [resealed.keyId, resealed.sealedSecret, row.id.lowercasedString])
            }
            return rows.count
        }
    }

    public func deleteCredentialIfUnused(id: UUID, audit: AuditEvent) async throws -> Bool {
        try await write { db in
            let key = id.lowercasedString
            let used = try Bool.fetchOne(db, sql: """
                SELECT 1 FROM connections WHERE credential_id = ? AND status <> 'deleted' LIMIT 1
                """, arguments: [key]) ?? false
            guard !used else { return false }
            try db.execute(sql: "DELETE FROM credentials WHERE id = ? AND owned_by_connection", arguments: [key])
            guard db.changesCount > 0 else { return false }
            try Self.append(audit, db)
            return true
        }
    }

    public func connectionDetails(id: UUID) async throws -> ConnectionDetails? {
        let miss: ConnectionDetailsCache.Miss
        switch detailsCache.lookup(id) {
        case .success(let details): return details
        case .failure(let generation): miss = generation
        }
        let key = id.lowercasedString
        let details = try await read { db -> ConnectionDetails? in
            guard let row = try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM connections WHERE id = ?"),
                                             arguments: [key]) else { return nil }
            let health = try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM connection_health WHERE connection_id = ?"),
                                          arguments: [key]).map(HealthRow.record(from:))
            let environments = try Self.environments(ofConnection: key, db)
            return ConnectionDetails(connection: try ConnectionRow.connection(from: row), health: health, environments: environments)
        }
        if let details { detailsCache.remember(details, after: miss) }
        return details
    }

    public func connection(id: UUID) async throws -> Connection? {
        try await read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM connections WHERE id = ?"), arguments: [id.lowercasedString])
                .map(ConnectionRow.connection(from:))
        }
    }

    public func update(_ connection: Connection, expectedVersion: Int64, event: LifecycleEvent?,
                       credential: CredentialWrite?) async throws -> Connection {
        try await write { db in
            let stored: Connection
            do {
                guard let written = try Self.compareAndSet(connection, expectedVersion: expectedVersion, db) else {
                    throw try Self.failedCompareAndSet("connections", connection.id, expected: expectedVersion,
                                                       missing: .notFound(connection.id), db)
                }
                stored = written
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw try Self.fingerprintConflict(connection, db) ?? error
            }
            if let credential { try Self.save(credential, db) }
            if let event { try Self.append(event, db) }
            return stored
        }
    }

    public func list(_ query: ConnectionQuery) async throws -> ConnectionListing {
        let filter = ConnectionFilterSQL(query)
        return try await read { db in
            let arguments = StatementArguments(filter.arguments)
            let rows = try Row.fetchAll(db, sql: filter.pageSQL,
                                        arguments: arguments + [query.pageSize, query.page * query.pageSize])
            var summary: [ConnectionStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: filter.summarySQL, arguments: arguments) {
                if let status = ConnectionStatus(rawValue: row["status"]) { summary[status] = row["count"] }
            }
            return ConnectionListing(
                connections: try rows.map(ConnectionRow.connection(from:)),
                totalCount: summary.values.reduce(0, +),
                statusSummary: summary
            )
        }
    }

    public func events(connectionId: UUID, page: Int, pageSize: Int) async throws -> EventPage {
        try await read { db in
            let key = connectionId.lowercasedString
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE connection_id = ?",
                                         arguments: [key]) ?? 0
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM events WHERE connection_id = ? ORDER BY sequence DESC LIMIT ? OFFSET ?
                """, arguments: [key, pageSize, page * pageSize])
            return EventPage(events: try rows.map(EventRow.event(from:)), totalCount: total)
        }
    }

    public func saveHealth(_ records: [HealthRecord]) async throws {
        guard !records.isEmpty else { return }
        try await write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO connection_health (connection_id, state, checked_at, latency_ms, last_error,
                    consecutive_successes, consecutive_failures)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (connection_id) DO UPDATE SET state = excluded.state, checked_at = excluded.checked_at,
                    latency_ms = excluded.latency_ms, last_error = excluded.last_error,
                    consecutive_successes = excluded.consecutive_successes,
                    consecutive_failures = excluded.consecutive_failures
                WHERE connection_health.checked_at IS NULL OR excluded.checked_at >= connection_health.checked_at
                """)
            for record in records {
                try statement.execute(arguments: [
                    record.connectionId.lowercasedString, record.state.rawValue, record.checkedAt?.storageMilliseconds,
                    record.latencyMilliseconds, record.lastError, record.consecutiveSuccesses, record.consecutiveFailures,
                ])
            }
        }
    }

    public func health(of ids: [UUID]) async throws -> [UUID: HealthRecord] {
        guard !ids.isEmpty else { return [:] }
        return try await read { db in
            var records: [UUID: HealthRecord] = [:]
            // SQLite limits bound parameters; ask in slices.
            for slice in stride(from: 0, to: ids.count, by: 500).map({ ids[$0..<min($0 + 500, ids.count)] }) {
                let rows = try Row.fetchAll(try db.cachedStatement(sql: """
                    SELECT * FROM connection_health WHERE connection_id IN (\(slice.map { _ in "?" }.joined(separator: ",")))
                    """), arguments: StatementArguments(slice.map(\.lowercasedString)))
                for row in rows {
                    let record = try HealthRow.record(from: row)
                    records[record.connectionId] = record
                }
            }
            return records
        }
    }

    public func probeCandidates(after afterId: UUID?, limit: Int) async throws -> [Connection] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM connections INDEXED BY connections_probed
                WHERE status IN ('registered', 'connected', 'disconnected') AND id > ?
                ORDER BY id LIMIT ?
                """, arguments: [afterId?.lowercasedString ?? "", limit]).map(ConnectionRow.connection(from:))
        }
    }

    public func saveCollectedData(connectionId: UUID, key: String, value: JSONValue, at date: Date) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO collected_data (connection_id, key, value, collected_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (connection_id, key) DO UPDATE SET value = excluded.value, collected_at = excluded.collected_at
                """, arguments: [connectionId.lowercasedString, key, JSONText.encode(value), date.storageMilliseconds])
        }
    }

    public func collectedData(connectionId: UUID) async throws -> [String: CollectedItem] {
        try await read { db in
            var items: [String: CollectedItem] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM collected_data WHERE connection_id = ?",
                                        arguments: [connectionId.lowercasedString]) {
                items[row["key"]] = CollectedItem(value: JSONText.decodeValue(row["value"]),
                                                  collectedAt: Date(storageMilliseconds: row["collected_at"]))
            }
            return items
        }
    }

    public func purgeCollectedData(connectionId: UUID) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM collected_data WHERE connection_id = ?", arguments: [connectionId.lowercasedString])
        }
    }

    public func countsByKindAndStatus() async throws -> [KindStatusCount] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT kind, status, COUNT(*) AS count FROM connections WHERE status != 'deleted' GROUP BY kind, status
                """).compactMap { row in
                ConnectionStatus(rawValue: row["status"]).map { KindStatusCount(kind: row["kind"], status: $0, count: row["count"]) }
            }
        }
    }

    /// SQLite's plans for the two queries a listing runs (its page, and its counts by
    /// status), one line per step: lets tests and operators see which indexes they use.
    public func queryPlan(for query: ConnectionQuery) async throws -> (page: [String], summary: [String]) {
        let filter = ConnectionFilterSQL(query)
        return try await read { db in
            let arguments = StatementArguments(filter.arguments)
            let page = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + filter.pageSQL,
                                        arguments: arguments + [query.pageSize, query.page * query.pageSize])
            let summary = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + filter.summarySQL, arguments: arguments)
            return (page.map { $0["detail"] as String }, summary.map { $0["detail"] as String })
        }
    }

    /// Why a compare-and-set `UPDATE` of `table` changed no row: someone else's change got
    /// there first, or there is no such row.
    static func failedCompareAndSet(_ table: String, _ id: UUID, expected: Int64, missing: StoreError,
                                    _ db: Database) throws -> StoreError {
        let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM \(table) WHERE id = ?", arguments: [id.lowercasedString]) ?? false
        return exists ? .versionConflict(id, expected: expected) : missing
    }

    static func append(_ event: AuditEvent, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO audit_events (subject_type, subject_id, action, actor, actor_role, detail, correlation_id, at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [event.subjectType, event.subjectId.lowercasedString, event.action.rawValue, event.actor,
                             event.actorRole.rawValue, event.detail, event.correlationId.lowercasedString,
                             event.at.storageMilliseconds])
    }

    private static func append(_ event: LifecycleEvent, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO events (connection_id, from_status, to_status, actor, actor_role, reason, correlation_id, at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: StatementArguments(EventRow.values(of: event)))
    }
}
