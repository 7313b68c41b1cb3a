import ConnectionLifecycle
import Foundation
import NIOSSL

/// Shared by the HTTP-speaking drivers: where the target is, how to authenticate, how long
/// to wait, and how to turn an answer into a check result.
struct HTTPTarget {
    let baseURL: String
    let headers: [(String, String)]
    /// Set when the target is reached through a Kubernetes API server (a service proxy):
    /// the cluster's CA and client identity.
    let tls: TLSConfiguration?

    /// The connection's url without a trailing slash, and auth headers from its secrets:
    /// a bearer token, an API key (sent as a bearer token, as Grafana expects) or basic auth.
    /// A connection whose secrets hold a kubeconfig (one found by a cluster scan, reached
    /// through the API server's service proxy) authenticates as that kubeconfig's user.
    init(_ connection: Connection, credentials: any CredentialSource) async throws {
        guard let url = connection.url, !url.isEmpty else { throw DriverError("the connection has no url") }
        baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        let secrets = try await credentials.secrets(for: connection)
        var headers: [(String, String)] = [("Accept", "application/json")]
        if secrets["kubeconfig"] != nil {
            let endpoint = try await KubernetesAuthResolver(credentials: credentials, execCache: .shared)
                .endpoint(from: secrets)
            // A cluster's credential goes to that cluster's service proxy and nowhere else.
            guard Self.isServiceProxy(baseURL, of: endpoint.server) else {
                throw DriverError("the connection's credential is a kubeconfig, which is only sent to its cluster (\(endpoint.server)), through the service proxy /api/v1/namespaces/<ns>/services/<name>:<port>/proxy")
            }
            self.headers = endpoint.headers
            self.tls = endpoint.tls
            return
        }
        tls = nil
        if let token = secrets["token"] ?? secrets["apiKey"] {
            headers.append(("Authorization", "Bearer \(token)"))
        } else if let username = secrets["username"] {
            let pair = Data("\(username):\(secrets["password"] ?? "")".utf8).base64EncodedString()
            headers.append(("Authorization", "Basic \(pair)"))
        }
        self.headers = headers
    }

    func url(_ path: String) -> String { baseURL + path }

    /// Whether `url` is a service-proxy URL of the API server `server`.
    static func isServiceProxy(_ url: String, of server: String) -> Bool {
        let prefix = Fingerprint.normalizedURL(server) + "/api/v1/namespaces/"
        let normalized = Fingerprint.normalizedURL(url)
        guard normalized.hasPrefix(prefix), !normalized.contains("/.."), !normalized.lowercased().contains("%2e"),
              !normalized.contains("?") else { return false }
        let rest = normalized.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        // <namespace>/services/<name[:port]>/proxy[/...]
        return rest.count >= 4 && !rest[0].isEmpty && rest[1] == "services" && !rest[2].isEmpty && rest[3] == "proxy"
    }

    /// An authenticated GET of `path` below the target's url.
    func get(_ path: String, through http: OutboundHTTP, timeout: Duration,
             maxBody: Int = 8 << 20) async throws -> OutboundResponse {
        try await http.request(url(path), headers: headers, timeout: timeout, tls: tls, maxBody: maxBody)
    }
}

extension CheckResult {
    /// 2xx is reachable, 401 and 403 are unauthorized, anything else names the status.
    static func classify(_ status: Int, path: String, latency: Duration, details: [String: String] = [:]) -> CheckResult {
        switch status {
        case 200..<300: CheckResult(health: .reachable, latency: latency, details: details)
        case 401, 403: CheckResult(health: .unauthorized, error: "\(path) answered HTTP \(status) (unauthorized)", latency: latency)
        default: CheckResult(health: .unreachable, error: "\(path) answered HTTP \(status)", latency: latency)
        }
    }

    static func failed(_ error: any Error, latency: Duration) -> CheckResult {
        let health: HealthState = (error as? OutboundError).map { if case .invalidURL = $0 { .unknown } else { .unreachable } }
            ?? ((error as? DriverError) != nil ? .unknown : .unreachable)
        return CheckResult(health: health, error: OutboundHTTP.describe(error), latency: latency)
    }
}

/// One authenticated GET of a kind's health endpoint, classified: the probe of the
/// HTTP kinds.
func checkEndpoint(_ path: String, of connection: Connection, http: OutboundHTTP,
                   credentials: any CredentialSource, timeout: Duration) async -> CheckResult {
    let watch = Stopwatch()
    do {
        let target = try await HTTPTarget(connection, credentials: credentials)
        let response = try await target.get(path, through: http, timeout: timeout)
        return .classify(response.status, path: path, latency: watch.elapsed)
    } catch {
        return .failed(error, latency: watch.elapsed)
    }
}

/// Reads a number of seconds from a connection's metadata (0.05 s to a day), with a
/// default; anything else in that key is ignored.
func secondsSetting(_ connection: Connection, _ setting: NumericSetting, default value: Double) -> Duration {
    .seconds(setting.value(in: connection.metadata) ?? value)
}

/// Runs `body` every `interval` until the task is cancelled. A failing round is retried at
/// the next interval; the error is kept as the session's `lastError`.
func everyInterval(_ interval: Duration, _ body: () async throws -> Void) async throws {
    while !Task.isCancelled {
        try await body()
        try await Task.sleep(for: interval)
    }
}
