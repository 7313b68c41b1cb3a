import Foundation
import Logging
import StoreContract
import SwitchboardPostgres
import SwitchboardStorage

/// Where the store lives. The one place that knows the backends: everything else sees only
/// the `ConnectionStore` protocols.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    /// The embedded default: one SQLite file (in the data folder).
    case sqlite(path: String)
    /// A PostgreSQL database: `postgres://user:password@host:port/database?sslmode=…`
    /// (`sslmode` as libpq's; without it, `disable` on a loopback host and `prefer` elsewhere).
    case postgres(url: String)

    public var description: String {
        switch self {
        case .sqlite(let path): "SQLite file \(path)"
        case .postgres(let url): "PostgreSQL database \((try? PostgresStoreURL(url))?.description ?? "(an unreadable URL)")"
        }
    }
}

/// A store opened for `serve`, and what its backend does at the end.
public struct OpenStore: Sendable {
    public let store: any ConnectionStore
    public let location: StoreLocation
    let closing: @Sendable () async throws -> Void

    /// Stops background checks and closes the store; a clean close lets the next start skip
    /// the full check.
    public func close() async throws { try await closing() }
}

public enum StoreBackends {
    /// Opens (creating and migrating as needed) the store: for commands and tests. A
    /// PostgreSQL store connects and migrates on its first read or write.
    public static func open(_ location: StoreLocation) throws -> any ConnectionStore {
        switch location {
        case .sqlite(let path): try SQLiteConnectionStore(path: path)
        case .postgres(let url): try PostgresConnectionStore(url: url)
        }
    }

    /// Opens the store for a server: refuses one that is damaged or cannot take writes
    /// (naming it and why) rather than reporting ready and failing every write.
    public static func openForServing(_ location: StoreLocation, logger: Logger) async throws -> OpenStore {
        switch location {
        case .sqlite(let path):
            let cleanShutdown = CleanShutdown(databasePath: path)
            let unchanged = cleanShutdown.takeRecord()
            let store = try SQLiteConnectionStore(path: path)
            try await store.checkAtStart(knownWhole: unchanged)
            logger.info(unchanged ? "database unchanged since its clean shutdown; checked that it takes writes"
                                  : "database checked in full and takes writes",
                        metadata: ["file": "\(path)"])
            // A clean shutdown vouches for the file, so the full check runs behind the start.
            let wholeCheck = unchanged ? Task {
                do {
                    try await store.checkWhole()
                } catch let damage as StoreUnavailable {
                    logger.critical("the database is damaged; the server is not ready until it is restored",
                                    metadata: ["error": "\(damage)"])
                } catch {
                    // Cancelled by the shutdown, or the read itself failed: nothing was found.
                }
            } : nil
            return OpenStore(store: store, location: location) {
                wholeCheck?.cancel()
                try await store.close()
                // A file found damaged is checked in full again at the next start.
                if !store.isKnownDamaged { try cleanShutdown.record() }
            }
        case .postgres(let url):
            // Connects, migrates (under the advisory lock) and checks that the server takes
            // writes; a server that cannot be reached refuses the start with StoreUnavailable.
            let store = try PostgresConnectionStore(url: url, logger: logger)
            do {
                try await store.prepare()
                try await store.checkReadiness()
            } catch {
                try? await store.close()
                throw error
            }
            logger.info("PostgreSQL database migrated and takes writes", metadata: ["database": "\(store.url)"])
            return OpenStore(store: store, location: location) { try await store.close() }
        }
    }

    /// Copies everything a SQLite store holds into an empty PostgreSQL database, in one
    /// transaction there, checking each table's count. The source must not change meanwhile
    /// (the caller holds its data folder's lock). Answers the rows copied per table.
    public static func copy(from source: StoreLocation, to target: StoreLocation) async throws -> [(table: String, rows: Int)] {
        guard case .sqlite(let path) = source, case .postgres(let url) = target else {
            throw StoreCopyUnsupported(source: source, target: target)
        }
        let from = try SQLiteConnectionStore(path: path)
        let tables = try await from.copyOut()
        try await from.close()
        let to = try PostgresConnectionStore(url: url)
        do {
            try await to.prepare()
            let copied = try await to.copyIn(tables)
            try await to.close()
            return copied
        } catch {
            try? await to.close()
            throw error
        }
    }

    /// Copies a live SQLite database to `destination` (a consistent snapshot) and checks the copy.
    public static func backup(from source: String, to destination: String) throws -> DatabaseBackup.Report {
        try DatabaseBackup.copy(from: source, to: destination)
    }
}

public typealias DatabaseBackup = SwitchboardStorage.DatabaseBackup
public typealias DatabaseBackupError = SwitchboardStorage.DatabaseBackupError

/// A copy between backends other than SQLite to PostgreSQL.
public struct StoreCopyUnsupported: Error, CustomStringConvertible, Sendable {
    let source: StoreLocation
    let target: StoreLocation
    public var description: String { "a copy goes from a SQLite data folder to a PostgreSQL database, not from \(source) to \(target)" }
}
