import ConnectionLifecycle
import Foundation
import Yams

/// A Helm chart repository: fetching and parsing `index.yaml` verifies it; while connected
/// it re-indexes every `reindexIntervalSeconds` (default 300) and keeps the chart list.
public struct HelmDriver: ConnectionDriver {
    private let http: OutboundHTTP
    private let credentials: any CredentialSource
    private let timeout: Duration
    /// Public repositories publish indexes of tens of megabytes.
    private static let maxIndexBytes = 64 << 20

    public init(http: OutboundHTTP, credentials: any CredentialSource, timeout: Duration = .seconds(5)) {
        self.http = http
        self.credentials = credentials
        self.timeout = timeout
    }

    public func verify(_ connection: Connection) async -> CheckResult {
        await check(connection, timeout: timeout)
    }

    /// Probing fetches and parses the index too: a repository whose index is broken is down.
    public func probe(_ connection: Connection, timeout: Duration) async -> CheckResult {
        await check(connection, timeout: timeout)
    }

    private func check(_ connection: Connection, timeout: Duration) async -> CheckResult {
        let watch = Stopwatch()
        do {
            let charts = try await fetchIndex(connection, timeout: timeout)
            return CheckResult(health: .reachable, latency: watch.elapsed, details: ["charts": String(charts.count)])
        } catch let failure as IndexFailure {
            return failure.result(latency: watch.elapsed)
        } catch {
            return .failed(error, latency: watch.elapsed)
        }
    }

    public func runSession(_ connection: Connection, sink: any CollectedDataSink) async throws {
        try await everyInterval(secondsSetting(connection, ConnectionSettings.reindexInterval, default: 300)) {
            let charts = try await fetchIndex(connection, timeout: timeout)
            let value = JSONValue.array(charts.map { chart in
                .object(["name": .string(chart.name), "latest": .string(chart.latest),
                         "versions": .array(chart.versions.map(JSONValue.string))])
            })
            try await sink.saveCollectedData(connectionId: connection.id, key: "charts", value: value)
        }
    }

    struct Chart: Sendable {
        var name: String
        var versions: [String]
        var latest: String
    }

    private struct IndexFailure: Error {
        var status: Int?
        var message: String
        func result(latency: Duration) -> CheckResult {
            if let status { return .classify(status, path: "/index.yaml", latency: latency) }
            return CheckResult(health: .unreachable, error: message, latency: latency)
        }
    }

    /// Fetches and parses the repository's index: `apiVersion` and an `entries` map of
    /// chart name to versions, newest first as Helm writes them.
    func fetchIndex(_ connection: Connection, timeout: Duration) async throws -> [Chart] {
        let target = try await HTTPTarget(connection, credentials: credentials)
        let response = try await target.get("/index.yaml", through: http, timeout: timeout,
                                              maxBody: Self.maxIndexBytes)
        guard (200..<300).contains(response.status) else {
            throw IndexFailure(status: response.status, message: "/index.yaml answered HTTP \(response.status)")
        }
        return try Self.parseIndex(String(decoding: response.bodyData, as: UTF8.self))
    }

    static func parseIndex(_ text: String) throws -> [Chart] {
        // A remote repository writes this file: a key made of aliases would keep a core busy
        // for minutes while Yams hashes it (see YAMLAliases). Chart indexes never need one.
        if let (line, column) = YAMLAliases.firstInKey(in: text) {
            throw IndexFailure(status: nil, message: "index.yaml has an alias (*name) as a key at line \(line), column \(column); a Helm index never does")
        }
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw IndexFailure(status: nil, message: "index.yaml is not valid YAML: \(error)")
        }
        guard let root = document as? [String: Any], root["apiVersion"] != nil,
              let entries = root["entries"] as? [String: Any] else {
            throw IndexFailure(status: nil, message: "index.yaml is not a Helm repository index (no apiVersion or entries)")
        }
        return entries.keys.sorted().map { name in
            let versions = (entries[name] as? [[String: Any]] ?? []).compactMap { entry -> String? in
                if let version = entry["version"] as? String { return version }
                return (entry["version"]).map { "\($0)" }
            }
            return Chart(name: name, versions: versions, latest: versions.first ?? "")
        }
    }
}
