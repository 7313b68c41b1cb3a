import Foundation
import Yams

/// A kubeconfig file as kubectl reads it: clusters, users and contexts by name.
public struct Kubeconfig: Sendable, Hashable, Codable {
    public var clusters: [NamedCluster]
    public var users: [NamedUser]
    public var contexts: [NamedContext]
    public var currentContext: String?

    enum CodingKeys: String, CodingKey {
        case clusters, users, contexts
        case currentContext = "current-context"
    }

    public init(clusters: [NamedCluster], users: [NamedUser], contexts: [NamedContext], currentContext: String?) {
        self.clusters = clusters
        self.users = users
        self.contexts = contexts
        self.currentContext = currentContext
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        clusters = try container.decodeIfPresent([NamedCluster].self, forKey: .clusters) ?? []
        users = try container.decodeIfPresent([NamedUser].self, forKey: .users) ?? []
        contexts = try container.decodeIfPresent([NamedContext].self, forKey: .contexts) ?? []
        currentContext = try container.decodeIfPresent(String.self, forKey: .currentContext)
    }

    /// Parses kubeconfig YAML; the error says what is wrong in terms of the file.
    public static func parse(_ yaml: String) throws -> Kubeconfig {
        if let (line, column) = YAMLAliases.firstInKey(in: yaml) {
            throw DriverError("the kubeconfig is not valid: a key at line \(line), column \(column) is an alias (*name), which a kubeconfig never needs")
        }
        do {
            return try YAMLDecoder().decode(Kubeconfig.self, from: yaml)
        } catch let error as DecodingError {
            throw DriverError("the kubeconfig is not valid: \(Self.describe(error))")
        } catch let error as YamlError {
            throw DriverError("the kubeconfig is not valid YAML: \(Self.describe(error))")
        } catch {
            throw DriverError("the kubeconfig is not valid YAML")
        }
    }

    public struct NamedCluster: Sendable, Hashable, Codable {
        public var name: String
        public var cluster: Cluster
    }

    public struct Cluster: Sendable, Hashable, Codable {
        public var server: String
        public var certificateAuthority: String?
        public var certificateAuthorityData: String?
        public var insecureSkipTLSVerify: Bool?
        public var tlsServerName: String?

        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthority = "certificate-authority"
            case certificateAuthorityData = "certificate-authority-data"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
            case tlsServerName = "tls-server-name"
        }
    }

    public struct NamedUser: Sendable, Hashable, Codable {
        public var name: String
        public var user: User
    }

    public struct User: Sendable, Hashable, Codable {
        public var token: String?
        public var tokenFile: String?
        public var clientCertificate: String?
        public var clientCertificateData: String?
        public var clientKey: String?
        public var clientKeyData: String?
        public var username: String?
        public var password: String?
        public var exec: ExecConfig?
        /// Legacy auth plugins (gcp, azure, oidc): recognised only to be refused clearly.
        public var authProvider: AuthProvider?

        enum CodingKeys: String, CodingKey {
            case token, tokenFile, username, password, exec
            case authProvider = "auth-provider"
            case clientCertificate = "client-certificate"
            case clientCertificateData = "client-certificate-data"
            case clientKey = "client-key"
            case clientKeyData = "client-key-data"
        }
    }

    public struct AuthProvider: Sendable, Hashable, Codable {
        public var name: String
    }

    /// An exec credential plugin (client.authentication.k8s.io/v1 or v1beta1).
    public struct ExecConfig: Sendable, Hashable, Codable {
        public var apiVersion: String?
        public var command: String
        public var args: [String]?
        public var env: [EnvVar]?
        public var installHint: String?

        public struct EnvVar: Sendable, Hashable, Codable {
            public var name: String
            public var value: String
        }
    }

    public struct NamedContext: Sendable, Hashable, Codable {
        public var name: String
        public var context: Context
    }

    public struct Context: Sendable, Hashable, Codable {
        public var cluster: String
        public var user: String?
        public var namespace: String?
    }

    /// The cluster and user a context names (the current context when `name` is nil).
    public func resolve(context name: String?) throws -> (context: String, cluster: Cluster, user: User) {
        guard let contextName = name ?? currentContext else {
            throw DriverError("the kubeconfig has no current-context and the connection names none")
        }
        guard let context = contexts.first(where: { $0.name == contextName })?.context else {
            throw DriverError("the kubeconfig has no context '\(contextName)' (it has: \(contexts.map(\.name).joined(separator: ", ")))")
        }
        guard let cluster = clusters.first(where: { $0.name == context.cluster })?.cluster else {
            throw DriverError("context '\(contextName)' names cluster '\(context.cluster)', which the kubeconfig does not define")
        }
        let user: User
        if let userName = context.user {
            guard let found = users.first(where: { $0.name == userName })?.user else {
                throw DriverError("context '\(contextName)' names user '\(userName)', which the kubeconfig does not define")
            }
            user = found
        } else {
            user = User()
        }
        return (contextName, cluster, user)
    }

    /// Where and what, without Yams' quote of the offending line: in a kubeconfig that line
    /// may well hold a token.
    public static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            "\(problem) at line \(mark.line), column \(mark.column)"
        case .reader(let problem, _, _, _): problem
        case .duplicatedKeysInMapping(let duplicates, _): "duplicated keys \(duplicates.joined(separator: ", "))"
        default: "unreadable"
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return "missing \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case .typeMismatch(let type, let context):
            // Not the decoder's description: it may quote the value, and values can be secrets.
            return "\(path(context)) should be \(type == String.self ? "text" : type == Bool.self ? "true or false" : "a \(type)")"
        case .valueNotFound(_, let context):
            return "\(path(context)) is empty"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not a kubeconfig document" : "\(path(context)) is not valid"
        @unknown default:
            return "not a kubeconfig"
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return path.isEmpty ? "the document" : path.replacingOccurrences(of: ".[", with: "[")
    }
}
