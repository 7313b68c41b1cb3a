import Foundation
import StoreContract

/// Tells a running server that tokens were revoked by another process: `switchboard token
/// revoke` writes the database directly, and the server remembers looked-up tokens so that a
/// busy client costs no database read per request. After its change commits, the revoking
/// process replaces a file in the data folder; the server compares the file's identity with
/// what it last saw at every request (one `stat`, no database read) and, when it differs,
/// forgets every token it remembered. A revocation holds from the next request on.
public struct RevocationMarker: Sendable {
    /// The file's name in the data folder.
    public static let fileName = "tokens-revoked"

    public let path: String

    public init(dataDirectory: String) {
        path = URL(fileURLWithPath: dataDirectory).appendingPathComponent(Self.fileName).path
    }

    /// Called after a revocation commits: a new file (a new inode and time) replaces the old.
    public func signal() throws {
        try PrivateFile.replace(path, contents: "\(Date().timeIntervalSince1970)\n")
    }

    /// The file's identity now (nil while there is none): its inode and modification time.
    /// A `stat` in the data folder on every request: a local disk's cached metadata answers
    /// it in about a microsecond, so it runs inline rather than on another thread.
    func stamp() -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Stamp(inode: UInt64(info.st_ino), seconds: Int64(info.st_mtim.tv_sec), nanoseconds: Int64(info.st_mtim.tv_nsec))
    }

    struct Stamp: Hashable, Sendable {
        var inode: UInt64
        var seconds: Int64
        var nanoseconds: Int64
    }
}
