import ConnectionLifecycle
import Foundation

/// Grafana: `/api/health` plus an authenticated dashboard search to verify (the API key from
/// the credential), `/api/health` to probe; while connected it keeps the dashboard list,
/// refreshed every `refreshIntervalSeconds` (default 60).
public struct GrafanaDriver: ConnectionDriver {
    private let http: OutboundHTTP
    private let credentials: any CredentialSource
    private let timeout: Duration

    public init(http: OutboundHTTP, credentials: any CredentialSource, timeout: Duration = .seconds(5)) {
        self.http = http
        self.credentials = credentials
        self.timeout = timeout
    }

    public func verify(_ connection: Connection) async -> CheckResult {
        let watch = Stopwatch()
        do {
            let target = try await HTTPTarget(connection, credentials: credentials)
            let health = try await target.get("/api/health", through: http, timeout: timeout)
            let healthResult = CheckResult.classify(health.status, path: "/api/health", latency: watch.elapsed)
            guard healthResult.isReachable else { return healthResult }
            let version = (try? JSONDecoder().decode(Health.self, from: health.bodyData))?.version ?? "unknown"
            let search = try await target.get("/api/search?type=dash-db&limit=1", through: http, timeout: timeout)
            let result = CheckResult.classify(search.status, path: "/api/search", latency: watch.elapsed,
                                              details: ["version": version])
            return result
        } catch {
            return .failed(error, latency: watch.elapsed)
        }
    }

    public func probe(_ connection: Connection, timeout: Duration) async -> CheckResult {
        await checkEndpoint("/api/health", of: connection, http: http, credentials: credentials, timeout: timeout)
    }

    public func runSession(_ connection: Connection, sink: any CollectedDataSink) async throws {
        let target = try await HTTPTarget(connection, credentials: credentials)
        try await everyInterval(secondsSetting(connection, ConnectionSettings.refreshInterval, default: 60)) {
            let response = try await target.get("/api/search?type=dash-db&limit=5000", through: http, timeout: timeout)
            guard (200..<300).contains(response.status) else {
                throw DriverError("/api/search answered HTTP \(response.status)")
            }
            let dashboards = try JSONDecoder().decode([Dashboard].self, from: response.bodyData)
            let value = JSONValue.array(dashboards.map { dashboard in
                .object(["uid": .string(dashboard.uid), "title": .string(dashboard.title), "url": .string(dashboard.url ?? "")])
            })
            try await sink.saveCollectedData(connectionId: connection.id, key: "dashboards", value: value)
        }
    }

    private struct Health: Decodable { var version: String? }
    private struct Dashboard: Decodable {
        var uid: String
        var title: String
        var url: String?
    }
}
