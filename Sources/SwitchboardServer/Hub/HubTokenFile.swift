import Foundation

/// The file holding the token this server sends to its hub (`--hub-token-file`). It is read
/// again before each try, so an operator can replace a revoked token without a restart.
public struct HubTokenFile: Sendable, Hashable {
    public let path: String

    public init(path: String) { self.path = path }

    /// The token: the file's text without surrounding white space. Throws
    /// `HubTokenFileError` when the file cannot be read or holds nothing.
    public func read() throws(HubTokenFileError) -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw HubTokenFileError("the hub token file \(path) cannot be read (\(Self.reason(error))); write the token the hub issued into it (switchboard token create on the hub makes one)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            throw HubTokenFileError("the hub token file \(path) is empty; write the token the hub issued into it (switchboard token create on the hub makes one)")
        }
        // A token is one line; anything else would end up split across header lines.
        guard !token.contains(where: \.isNewline), token.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw HubTokenFileError("the hub token file \(path) must hold one token on one line (printable ASCII, no spaces)")
        }
        return token
    }

    private static func reason(_ error: any Error) -> String {
        let cocoa = error as NSError
        if let posix = cocoa.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        switch cocoa.code {
        case NSFileReadNoSuchFileError: return "no such file"
        case NSFileReadNoPermissionError: return "permission denied"
        default: return cocoa.localizedDescription
        }
    }
}

/// The hub token file is unusable; the text says what to do.
public struct HubTokenFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String

    init(_ description: String) { self.description = description }
}
