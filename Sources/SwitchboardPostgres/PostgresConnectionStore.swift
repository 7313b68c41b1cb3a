import ConnectionLifecycle
import Foundation
import Logging
import PostgresNIO
import StoreContract

/// The PostgreSQL store, through PostgresNIO's `PostgresClient` (a pool of connections).
///
/// The store owns the client: `init` starts its `run()` in a task and `close()` ends it, so
/// opening one is a plain call (no service to add anywhere). The schema is migrated before the
/// first read or write (under an advisory lock: replicas starting together migrate once);
/// `prepare()` does it up front. Every write is one transaction; a connection change is a
/// compare-and-set on `version` with its event appended in the same transaction.
public final class PostgresConnectionStore: ConnectionStore {
    public let url: PostgresStoreURL
    let client: PostgresClient
    let logger: Logger
    let schema = SchemaGate()
    let activity = StoreActivity()
    let livenessLocks: PostgresLivenessLocks
    private let running: Task<Void, Never>

    public init(url: PostgresStoreURL, logger: Logger = Logger(label: "switchboard.postgres"), maximumConnections: Int = 20) {
        self.url = url
        self.logger = logger
        let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: maximumConnections),
                                    backgroundLogger: postgresStoreQuietLogger)
        self.client = client
        livenessLocks = PostgresLivenessLocks(client: client, logger: logger)
        running = Task { await client.run() }
    }

    public convenience init(url: String, logger: Logger = Logger(label: "switchboard.postgres")) throws {
        self.init(url: try PostgresStoreURL(url), logger: logger)
    }

    /// Migrates the schema now (otherwise the first read or write does).
    public func prepare() async throws {
        try await read { _ in () }
    }

    func migrate() async throws {
        let location = url.description, logger = logger, client = client
        try await Self.bounded(by: url.connectTimeout) { leased in
            try await client.withConnection { connection in
                leased.set()
                try await PostgresMigrations.migrate(connection, location: location, logger: logger)
            }
        }
    }

    /// Waits (at most 10 s) for the reads and writes under way, then ends the client.
    public func close() async throws {
        await activity.close(within: .seconds(10))
        await livenessLocks.releaseAll()
        running.cancel()
        await running.value
    }

    // MARK: The ledger

    public func insert(_ connection: Connection, event: LifecycleEvent, credential: CredentialWrite?) async throws {
        try await write { db in
            try await Self.insert(connection, db)
            if let credential { try await Self.save(credential, db) }
            try await PostgresEventLog.append([event], on: db)
        }
    }

    public func insert(contentsOf items: [(Connection, LifecycleEvent)]) async throws {
        guard !items.isEmpty else { return }
        let connections = items.map(\.0), events = items.map(\.1)
        try await write { db in
            for connection in connections { try await Self.insert(connection, db) }
            try await PostgresEventLog.append(events, on: db)
        }
    }

    /// Inserts the row; a taken id or a live duplicate fingerprint throws the store's error
    /// (`ON CONFLICT DO NOTHING` keeps the transaction usable to find out which).
    private static func insert(_ connection: Connection, _ db: PostgresConnection) async throws {
        let c = connection
        let inserted = try await db.run("""
            INSERT INTO connections (id, name, description, url, kind, type, sub_type, status, credential_id, owner,
                metadata, created_at, updated_at, deleted_at, version, status_changed_by, fingerprint, parent_id)
            VALUES (\(c.id), \(c.name), \(c.description), \(c.url), \(c.kind), \(c.type), \(c.subType), \(c.status.wireName),
                \(c.credentialId), \(c.owner), \(JSONText.encode(c.metadata)), \(c.createdAt.storageMilliseconds),
                \(c.updatedAt.storageMilliseconds), \(c.deletedAt?.storageMilliseconds), \(c.version),
                \(c.statusChangedBy.rawValue), \(c.fingerprint), \(c.parentId))
            ON CONFLICT DO NOTHING RETURNING 1
            """)
        guard inserted == 0 else { return }
        if try await db.run("SELECT 1 FROM connections WHERE id = \(c.id)") > 0 { throw StoreError.duplicate(c.id) }
        if let conflict = try await fingerprintConflict(c, db) { throw conflict }
        throw StoreError.duplicate(c.id)
    }

    /// The duplicate-fingerprint error naming the live connection that holds the fingerprint.
    static func fingerprintConflict(_ connection: Connection, _ db: PostgresConnection) async throws -> StoreError? {
        guard let fingerprint = connection.fingerprint,
              let existing = try await liveConnection(owner: connection.owner, fingerprint: fingerprint, db),
              existing.id != connection.id else { return nil }
        return .duplicateFingerprint(fingerprint, existing: existing.id)
    }

    public func update(_ connection: Connection, expectedVersion: Int64, event: LifecycleEvent?,
                       credential: CredentialWrite?) async throws -> Connection {
        do {
            return try await write { db in
                guard let stored = try await Self.compareAndSet(connection, expectedVersion: expectedVersion, db) else {
                    throw try await Self.failedCompareAndSet("connections", connection.id, expected: expectedVersion,
                                                             missing: .notFound(connection.id), db)
                }
                if let credential { try await Self.save(credential, db) }
                if let event { try await PostgresEventLog.append([event], on: db) }
                return stored
            }
        } catch let error as PSQLError where Self.isFingerprintViolation(error) {
            // The transaction is rolled back; name the connection that holds the fingerprint.
            throw try await read { db in try await Self.fingerprintConflict(connection, db) } ?? error
        }
    }

    public func updateMany(_ moves: [StoredMove]) async throws -> [UUID: Connection] {
        guard !moves.isEmpty else { return [:] }
        return try await write { db in
            var stored: [UUID: Connection] = [:]
            // Rows in id order (two batches never wait on each other crosswise), events after
            // every row (see PostgresEventLog), in the order of the moves.
            for move in moves.sorted(by: { $0.connection.id.lowercasedString < $1.connection.id.lowercasedString }) {
                let mayClash = move.connection.fingerprint != nil && move.connection.status != .deleted
                if mayClash { try await db.run("SAVEPOINT move") }
                do {
                    guard let written = try await Self.compareAndSet(move.connection, expectedVersion: move.expectedVersion, db) else {
                        continue  // Changed meanwhile: the caller decides again.
                    }
                    stored[written.id] = written
                    if mayClash { try await db.run("RELEASE SAVEPOINT move") }
                } catch let error as PSQLError where mayClash && Self.isFingerprintViolation(error) {
                    try await db.run("ROLLBACK TO SAVEPOINT move")  // The single path names the conflict.
                }
            }
            try await PostgresEventLog.append(moves.filter { stored[$0.connection.id] != nil }.map(\.event), on: db)
            return stored
        }
    }

    /// Rewrites every column but `id` when the stored version is `expectedVersion`; answers the
    /// row as stored, or nil when another change got there first or there is no such row.
    private static func compareAndSet(_ connection: Connection, expectedVersion: Int64,
                                      _ db: PostgresConnection) async throws -> Connection? {
        var c = connection
        c.version = expectedVersion + 1
        let changed = try await db.run("""
            UPDATE connections SET name = \(c.name), description = \(c.description), url = \(c.url), kind = \(c.kind),
                type = \(c.type), sub_type = \(c.subType), status = \(c.status.wireName), credential_id = \(c.credentialId),
                owner = \(c.owner), metadata = \(JSONText.encode(c.metadata)), created_at = \(c.createdAt.storageMilliseconds),
                updated_at = \(c.updatedAt.storageMilliseconds), deleted_at = \(c.deletedAt?.storageMilliseconds),
                version = \(c.version), status_changed_by = \(c.statusChangedBy.rawValue), fingerprint = \(c.fingerprint),
                parent_id = \(c.parentId)
            WHERE id = \(c.id) AND version = \(expectedVersion)
            RETURNING 1
            """)
        return changed == 0 ? nil : c
    }

    static func isFingerprintViolation(_ error: PSQLError) -> Bool {
        error.serverInfo?[.sqlState] == "23505" && error.serverInfo?[.constraintName] == "connections_live_fingerprint"
    }

    /// Why a compare-and-set `UPDATE` of `table` changed no row: someone else's change got
    /// there first, or there is no such row.
    static func failedCompareAndSet(_ table: String, _ id: UUID, expected: Int64, missing: StoreError,
                                    _ db: PostgresConnection) async throws -> StoreError {
        let exists = try await db.run(PostgresQuery(unsafeSQL: "SELECT 1 FROM \(table) WHERE id = $1", binds: {
            var binds = PostgresBindings()
            binds.append(id)
            return binds
        }())) > 0
        return exists ? .versionConflict(id, expected: expected) : missing
    }
}
