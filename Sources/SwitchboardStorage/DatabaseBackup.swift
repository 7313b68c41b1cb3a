import Foundation
import StoreContract
import GRDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A consistent copy of the SQLite database, taken while a server may be running on it.
///
/// The source is opened read-only and copied with SQLite's online backup in one step, which
/// reads a single snapshot: a write that commits meanwhile is either wholly in the copy or
/// not at all (WAL lets the server keep writing during the copy). It takes no lock on the data
/// folder: that lock keeps a second *server* out (a second writer and prober), and this only
/// reads, through SQLite's own locking.
public enum DatabaseBackup {
    /// What a finished backup holds, for the operator.
    public struct Report: Sendable {
        public var bytes: Int
        public var connections: Int
        public var credentials: Int
    }

    /// Copies the database at `source` to a new file `destination` (mode 0600). The copy is
    /// written beside the destination under another name, checked (`PRAGMA quick_check`)
    /// and renamed into place, so `destination` is never a half-written file.
    public static func copy(from source: String, to destination: String) throws -> Report {
        guard FileManager.default.fileExists(atPath: source) else {
            throw DatabaseBackupError("no database at \(source); name the server's data folder with --data-dir")
        }
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw DatabaseBackupError("\(destination) already exists; choose a new file name, or remove it first")
        }
        let folder = URL(fileURLWithPath: destination).deletingLastPathComponent().path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw DatabaseBackupError("the folder \(folder) does not exist; create it first")
        }
        let partial = destination + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        // Created 0600 before SQLite opens it: the copy holds token hashes and sealed secrets.
        let descriptor = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw DatabaseBackupError("cannot create \(partial): \(String(cString: strerror(errno)))")
        }
        close(descriptor)
        do {
            let report = try copyChecked(from: source, to: partial)
            guard rename(partial, destination) == 0 else {
                throw DatabaseBackupError("cannot rename \(partial) to \(destination): \(String(cString: strerror(errno)))")
            }
            return report
        } catch {
            for file in [partial, partial + "-journal", partial + "-wal", partial + "-shm"] { unlink(file) }
            throw error
        }
    }

    private static func copyChecked(from source: String, to partial: String) throws -> Report {
        var readOnly = Configuration()
        readOnly.readonly = true
        // The server's writes are short; wait for one rather than fail.
        readOnly.busyMode = .timeout(10)
        let reader: DatabaseQueue
        do {
            reader = try DatabaseQueue(path: source, configuration: readOnly)
        } catch {
            throw DatabaseBackupError("cannot open \(source) to read it: \(error)")
        }
        defer { try? reader.close() }
        let copy = try DatabaseQueue(path: partial)
        do {
            try reader.backup(to: copy)
            // The copy stands alone: no -wal file beside it is needed to read it. A server
            // started on it turns WAL on again.
            let counts = try copy.writeWithoutTransaction { db -> (Int, Int) in
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
                guard check == ["ok"] else {
                    throw DatabaseBackupError("the copy failed its check (\(check.prefix(3).joined(separator: "; "))); the source may be damaged: run the server, whose start checks it")
                }
                return (try count("connections", db), try count("credentials", db))
            }
            try copy.close()
            let size = ((try? FileManager.default.attributesOfItem(atPath: partial))?[.size] as? Int) ?? 0
            return Report(bytes: size, connections: counts.0, credentials: counts.1)
        } catch let error as DatabaseBackupError {
            try? copy.close()
            throw error
        } catch {
            try? copy.close()
            throw DatabaseBackupError("the backup of \(source) failed: \(error)")
        }
    }

    /// Rows of a table the copy may lack (an empty database has no schema yet).
    private static func count(_ table: String, _ db: Database) throws -> Int {
        guard try db.tableExists(table) else { return 0 }
        return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0
    }
}

/// A backup could not be taken: why, and what to do.
public struct DatabaseBackupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
