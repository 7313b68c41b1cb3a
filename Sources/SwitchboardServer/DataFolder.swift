import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The server's data folder, held for the life of the process: created private (0700), and
/// locked so a second server on the same folder refuses to start. Its caches assume it is
/// the only writer, and two servers would probe every target twice.
final class DataFolder: Sendable {
    let path: String
    /// The open lock file; the exclusive `flock` on it lasts until it is closed (or the
    /// process ends, however it ends: the kernel drops the lock).
    private let descriptor: Int32

    static let lockFileName = "switchboard.lock"

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Creates the folder when missing and takes its lock, writing this process's id into
    /// the lock file for the message a second server prints.
    static func acquire(_ path: String, logger: Logger) throws -> DataFolder {
        let manager = FileManager.default
        if !manager.fileExists(atPath: path) {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true,
                                        attributes: [.posixPermissions: 0o700])
        } else if let mode = (try? manager.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            // An operator's own folder is left as it is, but its openness is worth a word.
            logger.warning("the data folder is readable by other users; chmod 700 it (the database and keys inside are 0600)",
                           metadata: ["folder": "\(path)", "mode": "\(String(mode, radix: 8))"])
        }
        let lockPath = URL(fileURLWithPath: path).appendingPathComponent(lockFileName).path
        // O_CLOEXEC: a child (an exec credential plugin) must not inherit the lock and keep
        // it after the server is gone.
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw DataFolderError("cannot open \(lockPath): \(String(cString: strerror(errno))); the data folder must be writable by the server")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = readPid(descriptor)
            close(descriptor)
            guard reason == EWOULDBLOCK else {
                throw DataFolderError("cannot lock \(lockPath): \(String(cString: strerror(reason)))")
            }
            throw DataFolderError("the data folder \(path) is in use by another switchboard server (\(holder.map { "pid \($0)" } ?? "pid unknown")); stop that server first, or give this one another --data-dir")
        }
        let text = "\(getpid())\n"
        guard ftruncate(descriptor, 0) == 0, pwrite(descriptor, text, text.utf8.count, 0) == text.utf8.count else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw DataFolderError("cannot write \(lockPath): \(reason)")
        }
        return DataFolder(path: path, descriptor: descriptor)
    }

    /// Lets another server have the folder (at shutdown).
    func release() {
        close(descriptor)
    }

    private static func readPid(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// The data folder cannot be used: what is wrong and what to do.
public struct DataFolderError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
