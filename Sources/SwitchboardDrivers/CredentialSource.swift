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
public struct FileReferenceCredentials: CredentialSource {
    public init() {}

    public enum Key {
        public static let bearerTokenFile = "bearerTokenFile"
        public static let basicAuthUsername = "basicAuthUsername"
        public static let basicAuthPasswordFile = "basicAuthPasswordFile"
        public static let apiKeyFile = "apiKeyFile"
        public static let kubeconfigPath = "kubeconfigPath"
        public static let context = "context"
    }

    public func secrets(for connection: Connection) async throws -> SecretValues {
        var secrets: SecretValues = [:]
        func text(_ key: String) -> String? {
            if case .string(let value)? = connection.metadata[key], !value.isEmpty { return value }
            return nil
        }
        func read(_ key: String) throws -> String? {
            guard let path = text(key) else { return nil }
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
            do {
                secrets["kubeconfig"] = try String(contentsOfFile: path, encoding: .utf8)
                secrets["kubeconfigDirectory"] = URL(fileURLWithPath: path).deletingLastPathComponent().path
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
