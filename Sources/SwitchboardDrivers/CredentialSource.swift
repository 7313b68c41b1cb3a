import ConnectionLifecycle
import Foundation

/// The secret material a driver authenticates with, by name: `token`, `username`,
/// `password`, `apiKey`, `kubeconfig` (YAML text), `context`.
public typealias SecretValues = [String: String]

/// Finds the secrets a connection authenticates with.
public protocol CredentialSource: Sendable {
    func secrets(for connection: Connection) async throws -> SecretValues
}

/// Secrets by reference: the connection's metadata names files that hold them, so the
/// database never holds a secret. Keys: `bearerTokenFile`, `basicAuthUsername` with
/// `basicAuthPasswordFile`, `apiKeyFile`, and for Kubernetes `kubeconfigPath` with `context`.
///
/// A server names the folders such files may live in (`allowedDirectories`), so that a
/// connection cannot name an arbitrary file (a service-account token, a private key) and
/// have it sent to a URL of its choosing. `nil` allows any file (tests, embedding).
public struct FileReferenceCredentials: CredentialSource {
    private let allowedDirectories: [String]?

    public init(allowedDirectories: [String]? = nil) {
        self.allowedDirectories = allowedDirectories.map { $0.map(Self.canonical) }
    }

    /// The absolute path with symbolic links resolved, without a trailing slash.
    static func canonical(_ path: String) -> String {
        let resolved = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        return resolved.count > 1 && resolved.hasSuffix("/") ? String(resolved.dropLast()) : resolved
    }

    /// Throws unless `path` is inside an allowed folder.
    func permit(_ path: String, key: String) throws {
        guard let allowedDirectories else { return }
        let file = Self.canonical(path)
        guard allowedDirectories.contains(where: { file.hasPrefix($0 + "/") }) else {
            throw DriverError("\(key) \(path) is outside the folders this server reads secrets from (\(allowedDirectories.joined(separator: ", ")); see --secret-files-under)")
        }
    }

    public enum Key {
        public static let bearerTokenFile = "bearerTokenFile"
        public static let basicAuthUsername = "basicAuthUsername"
        public static let basicAuthPasswordFile = "basicAuthPasswordFile"
        public static let apiKeyFile = "apiKeyFile"
        public static let kubeconfigPath = "kubeconfigPath"
        public static let context = "context"
        /// The keys that name a file on the server.
        public static let files: Set<String> = [bearerTokenFile, basicAuthPasswordFile, apiKeyFile, kubeconfigPath]
    }

    public func secrets(for connection: Connection) async throws -> SecretValues {
        guard Key.files.contains(where: { connection.metadata[$0] != nil }) else { return try readSecrets(connection) }
        // File reads block their thread (a slow disk, a FIFO): never one of Swift's few cooperative ones.
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try readSecrets(connection) })
            }
        }
    }

    private func readSecrets(_ connection: Connection) throws -> SecretValues {
        var secrets: SecretValues = [:]
        func text(_ key: String) -> String? {
            if case .string(let value)? = connection.metadata[key], !value.isEmpty { return value }
            return nil
        }
        func read(_ key: String) throws -> String? {
            guard let path = text(key) else { return nil }
            try permit(path, key: key)
            do {
                return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw DriverError("cannot read \(key) \(path): \(error.localizedDescription)")
            }
        }
        secrets["token"] = try read(Key.bearerTokenFile)
        secrets["username"] = text(Key.basicAuthUsername)
        secrets["password"] = try read(Key.basicAuthPasswordFile)
        secrets["apiKey"] = try read(Key.apiKeyFile)
        if let path = text(Key.kubeconfigPath) {
            try permit(path, key: Key.kubeconfigPath)
            do {
                secrets["kubeconfig"] = try String(contentsOfFile: path, encoding: .utf8)
                secrets["kubeconfigDirectory"] = URL(fileURLWithPath: path).deletingLastPathComponent().path
                // The operator allowed this folder: its kubeconfigs are theirs to run.
                secrets[SecretKey.execAllowed] = "true"
            } catch {
                throw DriverError("cannot read kubeconfig \(path): \(error.localizedDescription)")
            }
        }
        secrets["context"] = text(Key.context)
        return secrets
    }
}

/// A driver failure with a message a person can act on.
public struct DriverError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
