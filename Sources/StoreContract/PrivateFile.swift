import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `open(2)` with O_CREAT | O_EXCL and mode 0600: the file is born private, and an existing
/// one is never replaced.
public func openExclusively(_ path: String) -> Int32 {
    #if canImport(Glibc)
    Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    #else
    Darwin.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    #endif
}

/// Files only their owner may read (keys, tokens): created with mode 0600 from the first byte.
public enum PrivateFile {
    /// Writes `contents` to `path` through a private temporary file renamed over it: readers
    /// see the old file or the whole new one, never a part.
    public static func replace(_ path: String, contents: String) throws {
        let temporary = path + ".new-\(UUID().lowercasedString)"
        try create(temporary, contents: contents)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw PrivateFileError("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Creates `path` with `contents`; fails if it exists.
    public static func create(_ path: String, contents: String) throws {
        let descriptor = openExclusively(path)
        guard descriptor >= 0 else {
            throw PrivateFileError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: Data(contents.utf8))
        try handle.synchronize()
    }
}

public struct PrivateFileError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
