import ConnectionLifecycle
import Foundation
import NIOSSL

/// How to reach and authenticate to one cluster: the API server, TLS (CA, client identity,
/// or no verification when the kubeconfig says so) and an optional bearer token.
struct KubernetesEndpoint: Sendable {
    var server: String
    var tls: TLSConfiguration?
    var bearerToken: String?
    /// Says where the credentials came from, for error messages.
    var contextName: String

    var headers: [(String, String)] {
        var headers: [(String, String)] = [("Accept", "application/json")]
        if let bearerToken { headers.append(("Authorization", "Bearer \(bearerToken)")) }
        return headers
    }
}

/// Names of secret values with a meaning beyond one driver.
public enum SecretKey {
    /// `"true"` when a kubeconfig came from the operator (a file on the server), so its exec
    /// plugins may run.
    public static let execAllowed = "execAllowed"
}

/// Turns a connection's kubeconfig reference into an endpoint: reads files the kubeconfig
/// names (relative to its folder), decodes inline data, runs exec plugins through a cache.
struct KubernetesAuthResolver: Sendable {
    let credentials: any CredentialSource
    let execCache: ExecCredentialCache

    func endpoint(for connection: Connection) async throws -> KubernetesEndpoint {
        try await endpoint(from: credentials.secrets(for: connection))
    }

    /// The endpoint a kubeconfig (secret `kubeconfig`, YAML) and `context` describe. Exec
    /// plugins run only when the secrets say the kubeconfig came from the operator
    /// (`execAllowed`): a kubeconfig uploaded through the API must not run commands here.
    func endpoint(from secrets: SecretValues) async throws -> KubernetesEndpoint {
        guard let text = secrets["kubeconfig"] else {
            throw DriverError("the connection has no kubeconfig (a credential, or metadata kubeconfigPath)")
        }
        let directory = secrets["kubeconfigDirectory"] ?? FileManager.default.currentDirectoryPath
        let config = try Kubeconfig.parse(text)
        let (contextName, cluster, user) = try config.resolve(context: secrets["context"])
        if user.exec != nil, secrets[SecretKey.execAllowed] != "true" {
            throw DriverError("context '\(contextName)': exec credential plugins run only for kubeconfigs the operator placed on this server, not for uploaded ones")
        }
        if let provider = user.authProvider {
            throw DriverError("context '\(contextName)': auth-provider '\(provider.name)' is not supported (use a token, a client certificate or an exec plugin)")
        }

        var tls = TLSConfiguration.makeClientConfiguration()
        let isHTTPS = cluster.server.lowercased().hasPrefix("https://")
        if cluster.insecureSkipTLSVerify == true {
            tls.certificateVerification = .none
        } else if let ca = try Self.material(inline: cluster.certificateAuthorityData, file: cluster.certificateAuthority,
                                             directory: directory, what: "certificate-authority") {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
            } catch {
                throw DriverError("context '\(contextName)': the certificate authority is not a PEM certificate")
            }
        }

        var token: String?
        var certificate = try Self.material(inline: user.clientCertificateData, file: user.clientCertificate,
                                            directory: directory, what: "client-certificate")
        var key = try Self.material(inline: user.clientKeyData, file: user.clientKey, directory: directory, what: "client-key")
        if let value = user.token {
            token = value
        } else if let file = user.tokenFile {
            token = try Self.readText(Self.path(file, in: directory), what: "tokenFile")
        } else if let exec = user.exec {
            let credential = try await execCache.credential(for: exec, directory: directory, cluster: cluster)
            token = credential.token
            if let data = credential.clientCertificateData { certificate = Array(data.utf8) }
            if let data = credential.clientKeyData { key = Array(data.utf8) }
        }
        if let certificate, let key {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            } catch {
                throw DriverError("context '\(contextName)': the client certificate or key is not valid PEM")
            }
        }
        let server = cluster.server.hasSuffix("/") ? String(cluster.server.dropLast()) : cluster.server
        return KubernetesEndpoint(server: server, tls: isHTTPS ? tls : nil, bearerToken: token, contextName: contextName)
    }

    /// PEM bytes from base64 inline data or from a file.
    static func material(inline: String?, file: String?, directory: String, what: String) throws -> [UInt8]? {
        if let inline {
            guard let data = Data(base64Encoded: inline.filter { !$0.isWhitespace }) else {
                throw DriverError("\(what)-data is not base64")
            }
            return Array(data)
        }
        guard let file else { return nil }
        let path = Self.path(file, in: directory)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DriverError("cannot read \(what) \(path)")
        }
        return Array(data)
    }

    static func readText(_ path: String, what: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw DriverError("cannot read \(what) \(path)") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// kubectl resolves relative paths in a kubeconfig against the kubeconfig's folder.
    static func path(_ file: String, in directory: String) -> String {
        file.hasPrefix("/") ? file : URL(fileURLWithPath: directory).appendingPathComponent(file).path
    }
}
