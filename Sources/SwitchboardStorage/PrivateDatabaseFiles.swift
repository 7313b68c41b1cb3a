import Foundation
import StoreContract
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The database and the files SQLite keeps beside it (`-wal`, `-shm`) are readable by the
/// server's user only: they hold token hashes, sealed secrets and every connection.
enum PrivateDatabaseFiles {
    /// Creates an empty database file with mode 0600 when there is none. SQLite gives the
    /// `-wal` and `-shm` files it creates later the database file's mode.
    static func prepare(_ path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            close(descriptor)
        } else if errno != EEXIST {
            throw DatabaseFileError("cannot create the database \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Takes group and other access away from the database files an older version made 0644.
    /// Best effort: a file that refuses chmod also refuses writes, which the start check reports.
    static func tighten(_ path: String) {
        for file in [path, path + "-wal", path + "-shm"] {
            var status = stat()
            guard stat(file, &status) == 0, status.st_mode & 0o077 != 0 else { continue }
            _ = chmod(file, status.st_mode & 0o700)
        }
    }
}

/// A database file the server cannot create or protect.
public struct DatabaseFileError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
