import Foundation
import StoreBackends
import StoreContract
import Synchronization

/// Stores for tests, opened the way the server opens them (through the backend factory).
///
/// `SWITCHBOARD_TEST_BACKEND=postgres` runs the store-facing suites on PostgreSQL instead:
/// each SQLite path a test names stands for a database of its own on the tests' PostgreSQL
/// (the same database every time the same path is named, so a restarted server finds its data),
/// and servers the tests start get it as `SWITCHBOARD_DATABASE_URL`.
public enum TestStore {
    /// The embedded SQLite store in the file at `path`, created and migrated.
    public static func sqlite(_ path: String) throws -> any ConnectionStore {
        try StoreBackends.open(.sqlite(path: path))
    }

    /// Whether this run's store-facing tests use PostgreSQL.
    public static var onPostgres: Bool { ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_BACKEND"] == "postgres" }

    /// The store a test works on: SQLite at `path`, or the PostgreSQL database standing for it.
    public static func chosen(_ path: String) async throws -> any ConnectionStore {
        guard let url = try await databaseURL(standingFor: path) else { return try sqlite(path) }
        return try StoreBackends.open(.postgres(url: url))
    }

    /// The PostgreSQL database that stands for `key` (a SQLite path or a data folder) in a
    /// PostgreSQL run, made on first use; nil in a SQLite run.
    public static func databaseURL(standingFor key: String) async throws -> String? {
        guard onPostgres else { return nil }
        if let url = databases.withLock({ $0[key] }) { return url }
        let database = try await PostgresTestDatabase.create()
        return databases.withLock { known in
            if let url = known[key] { return url }
            known[key] = database.url
            return database.url
        }
    }

    private static let databases = Mutex<[String: String]>([:])
}
