import ConnectionLifecycle
import Foundation

/// Prometheus: ready and build info to verify, readiness to probe; while connected it runs
/// `up` and the connection's own queries (metadata `queries`, a list of PromQL strings)
/// every `queryIntervalSeconds` (default 15) and keeps the latest results.
public struct PrometheusDriver: ConnectionDriver {
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
            let ready = try await target.get("/-/ready", through: http, timeout: timeout)
            let readiness = CheckResult.classify(ready.status, path: "/-/ready", latency: watch.elapsed)
            guard readiness.isReachable else { return readiness }
            let info = try await target.get("/api/v1/status/buildinfo", through: http, timeout: timeout)
            guard (200..<300).contains(info.status) else {
                return .classify(info.status, path: "/api/v1/status/buildinfo", latency: watch.elapsed)
            }
            let decoded = try? JSONDecoder().decode(BuildInfo.self, from: info.bodyData)
            guard let decoded, decoded.status == "success" else {
                return CheckResult(health: .unreachable, error: "/api/v1/status/buildinfo did not answer like Prometheus",
                                   latency: watch.elapsed)
            }
            return CheckResult(health: .reachable, latency: watch.elapsed, details: ["version": decoded.data.version])
        } catch {
            return .failed(error, latency: watch.elapsed)
        }
    }

    public func probe(_ connection: Connection, timeout: Duration) async -> CheckResult {
        await checkEndpoint("/-/ready", of: connection, http: http, credentials: credentials, timeout: timeout)
    }

    public func runSession(_ connection: Connection, sink: any CollectedDataSink) async throws {
        let target = try await HTTPTarget(connection, credentials: credentials)
        var queries = ["up"]
        if case .array(let configured)? = connection.metadata["queries"] {
            for case .string(let query) in configured where !queries.contains(query) { queries.append(query) }
        }
        try await everyInterval(secondsSetting(connection, ConnectionSettings.queryInterval, default: 15)) {
            var results: [String: JSONValue] = [:]
            for query in queries {
                var components = URLComponents()
                components.queryItems = [URLQueryItem(name: "query", value: query)]
                // URLComponents leaves `+`, which Prometheus would read as a space.
                let encoded = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
                let response = try await target.get("/api/v1/query?\(encoded)", through: http, timeout: timeout)
                guard (200..<300).contains(response.status) else {
                    throw DriverError("query \(query) answered HTTP \(response.status)")
                }
                let answer = try JSONDecoder().decode(JSONValue.self, from: response.bodyData)
                guard case .object(let object) = answer, case .object(let data)? = object["data"] else {
                    throw DriverError("query \(query) did not answer like Prometheus")
                }
                results[query] = data["result"] ?? .array([])
            }
            try await sink.saveCollectedData(connectionId: connection.id, key: "queries", value: .object(results))
        }
    }

    private struct BuildInfo: Decodable {
        var status: String
        var data: Data
        struct Data: Decodable { var version: String }
    }
}
