import Foundation
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL store lives, read from `postgres://user:password@host:port/database?sslmode=…`.
///
/// `sslmode` means what it means to libpq: `disable` (plain TCP), `allow` and `prefer` (TLS
/// when the server offers it, the certificate not verified), `require` (TLS, the certificate
/// not verified), `verify-ca` (TLS, the chain verified, not the host name) and `verify-full`
/// (TLS, chain and host name verified). `sslrootcert=FILE` names the trusted roots (else the
/// system's). Without `sslmode`: `disable` on a loopback host (127.0.0.1, ::1, localhost),
/// libpq's default `prefer` elsewhere. `connect_timeout=SECONDS` (libpq's name, default 10)
/// bounds both a new connection and the wait for a free one.
public struct PostgresStoreURL: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public let host: String
    public let port: Int
    public let username: String
    public let password: String?
    public let database: String
    public let sslMode: SSLMode
    public let sslRootCertificate: String?
    public let connectTimeout: Duration

    public init(_ text: String) throws {
        guard let components = URLComponents(string: text),
              ["postgres", "postgresql"].contains(components.scheme?.lowercased() ?? "") else {
            throw PostgresStoreURLError(url: text, problem: "it is not a postgres:// URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw PostgresStoreURLError(url: text, problem: "it names no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw PostgresStoreURLError(url: text, problem: "it names no user (postgres://USER:PASSWORD@HOST/DATABASE)")
        }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        self.username = user
        self.password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? user : path
        var mode: SSLMode?
        var rootCertificate: String?
        var timeout = Duration.seconds(10)
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let parsed = SSLMode(rawValue: value) else {
                    throw PostgresStoreURLError(url: text, problem: "sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                mode = parsed
            case "sslrootcert":
                rootCertificate = item.value
            case "connect_timeout":
                guard let value = item.value, let seconds = Int(value), seconds > 0 else {
                    throw PostgresStoreURLError(url: text, problem: "connect_timeout must be a positive number of seconds")
                }
                timeout = .seconds(seconds)
            default:
                throw PostgresStoreURLError(url: text, problem: "unknown parameter '\(item.name)' (known: sslmode, sslrootcert, connect_timeout)")
            }
        }
        self.sslMode = mode ?? (Self.isLoopback(self.host) ? .disable : .prefer)
        self.sslRootCertificate = rootCertificate
        self.connectTimeout = timeout
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// The URL without its password: what logs and errors show.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)@\(shownHost):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// The client configuration (pool size, timeouts, TLS) for this URL.
    public func clientConfiguration(maximumConnections: Int = 20) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: username, password: password,
                                                         database: database, tls: tls)
        configuration.options.connectTimeout = connectTimeout
        configuration.options.maximumConnections = maximumConnections
        if sslMode != .disable, !Self.isIPAddress(host) { configuration.options.tlsServerName = host }
        return configuration
    }

    private var tls: PostgresClient.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let sslRootCertificate { configuration.trustRoots = .file(sslRootCertificate) }
        switch sslMode {
        case .disable:
            return .disable
        case .allow, .prefer:
            configuration.certificateVerification = .none
            return .prefer(configuration)
        case .require:
            configuration.certificateVerification = .none
            return .require(configuration)
        case .verifyCA:
            configuration.certificateVerification = .noHostnameVerification
            return .require(configuration)
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
            return .require(configuration)
        }
    }

    private static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
    }
}

public struct PostgresStoreURLError: Error, CustomStringConvertible, Sendable {
    public let url: String
    public let problem: String

    public var description: String {
        // The password stays out of messages.
        var shown = url
        if var components = URLComponents(string: url), components.password != nil {
            components.password = "***"
            shown = components.string ?? "(a URL with a password)"
        }
        return "cannot use the database URL \(shown): \(problem)"
    }
}
