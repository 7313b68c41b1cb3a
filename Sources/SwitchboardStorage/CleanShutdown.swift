import Foundation
import StoreContract
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the database file looked like when the server last closed it cleanly, so the next
/// start can skip the full check (`PRAGMA quick_check` reads every page: about 150 ms for
/// 100,000 connections, five times the rest of a start). A file that changed since (a copy,
/// an edit, a damaged page written by anything), a crash (the record is removed when the
/// store opens, before anything is written) or a left-over `-wal` means a full check.
public struct CleanShutdown: Sendable {
    let databasePath: String
    let recordPath: String

    public init(databasePath: String) {
        self.databasePath = databasePath
        recordPath = databasePath + ".clean-shutdown"
    }

    /// Whether the file is as it was when last closed cleanly; forgets that record either way.
    public func takeRecord() -> Bool {
        defer { unlink(recordPath) }
        guard let recorded = try? String(contentsOfFile: recordPath, encoding: .utf8),
              let now = identity(), !hasLog() else { return false }
        return recorded.trimmingCharacters(in: .whitespacesAndNewlines) == now
    }

    /// After the database is closed (its log folded in): remembers the file as it is now.
    public func record() throws {
        guard let now = identity() else { return }
        try PrivateFile.replace(recordPath, contents: now + "\n")
    }

    /// Inode, size and modification time to the nanosecond: any write changes one of them.
    private func identity() -> String? {
        var info = stat()
        guard stat(databasePath, &info) == 0 else { return nil }
        return "\(info.st_ino) \(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    private func hasLog() -> Bool {
        var info = stat()
        return stat(databasePath + "-wal", &info) == 0 && info.st_size > 0
    }
}
