import Foundation
import Logging
import StoreBackends

/// `switchboard store copy`: moves a SQLite installation (connections and their history,
/// credentials still sealed, environments, users, tokens, the server id) into an empty
/// PostgreSQL database. The data folder's lock is held throughout, so no server changes
/// the source meanwhile, and the copy refuses while one runs.
public enum StoreMove {
    public static func copy(dataDirectory: String, to url: String, logger: Logger) async throws -> [(table: String, rows: Int)] {
        let path = ServerConfiguration(dataDirectory: dataDirectory).databasePath
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataFolderError("no database at \(path); name the data folder to copy with --from")
        }
        let folder = try DataFolder.acquire(dataDirectory, logger: logger)
        defer { folder.release() }
        return try await StoreBackends.copy(from: .sqlite(path: path), to: .postgres(url: url))
    }
}
