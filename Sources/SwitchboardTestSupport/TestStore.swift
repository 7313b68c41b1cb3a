import StoreBackends
import StoreContract

/// Stores for tests, opened the way the server opens them (through the backend factory).
public enum TestStore {
    /// The embedded SQLite store in the file at `path`, created and migrated.
    public static func sqlite(_ path: String) throws -> any ConnectionStore {
        try StoreBackends.open(.sqlite(path: path))
    }
}
