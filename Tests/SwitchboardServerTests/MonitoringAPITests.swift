import ConnectionLifecycle
import Foundation
import Hummingbird
import HummingbirdTesting
import SwitchboardTestSupport
import Testing

/// Ping, health on connections, collected data and `/metrics` over HTTP.
@Suite struct MonitoringAPITests {
    struct PingJSON: Decodable {
        var connectionId: String
        var status: String
        var health: String
        var reachable: Bool
        var latencyMs: Double
        var error: String?
    }

    @Test func pingChecksNowAndChangesNothing() async throws {
        try await ServerHarness.run { harness in
            let good = try await harness.createConnection(name: "good", kind: "http")
            let response = try await harness.request(.post, "/api/integrations/connections/\(good.id)/ping")
            #expect(response.status == .ok)
            let ping = try decode(PingJSON.self, response)
            #expect(ping.reachable && ping.health == "reachable" && ping.status == "discovered" && ping.error == nil)

            let gone = try await harness.createConnection(name: "gone", kind: "prometheus", url: StandInHTTPServer.refusedURL)
            let failed = try decode(PingJSON.self, try await harness.request(.post, "/api/integrations/connections/\(gone.id)/ping"))
            #expect(!failed.reachable && failed.health == "unreachable" && failed.error?.contains("refused") == true)

            #expect(try await harness.history(good.uuid).count == 1, "no events")
            #expect(try await harness.history(gone.uuid).count == 1, "no events")
            #expect(try await harness.store.connection(id: gone.uuid)?.status == .discovered)
            #expect(try await harness.store.health(of: [good.uuid, gone.uuid]).isEmpty, "ping does not write health")
            try expectProblem(try await harness.request(.post, "/api/integrations/connections/\(UUID().uuidString)/ping"),
                              .notFound)
        }
    }

    @Test func connectionsCarryTheirHealthAndCollectedData() async throws {
        let fast = HealthPolicy(interval: .milliseconds(100), registeredInterval: .milliseconds(100), timeout: .seconds(1))
        try await ServerHarness.run(monitor: fast) { harness in
            let created = try await harness.createConnection(name: "charts", kind: "helm", status: "connected")
            struct WithHealth: Decodable {
                struct Health: Decodable { var state: String; var checkedAt: String?; var consecutiveSuccesses: Int }
                var health: Health
            }
            try await waitUntil {
                let read = try decode(WithHealth.self, try await harness.request(.get, "/api/integrations/connections/\(created.id)"))
                return read.health.state == "reachable" && read.health.checkedAt != nil
            }
            struct Data: Decodable {
                struct Item: Decodable { var collectedAt: String }
                var items: [String: Item]
            }
            try await waitUntil {
                let data = try decode(Data.self, try await harness.request(.get, "/api/integrations/connections/\(created.id)/data"))
                return data.items["charts"] != nil
            }
            let page = try decode(PageJSON.self, try await harness.request(.get, "/api/integrations/connections"))
            #expect(page.connections.count == 1)

            // Ignoring keeps the data; deleting purges it.
            try await harness.request(.post, "/api/integrations/connections/\(created.id)/transitions", json: #"{"status": "ignored"}"#)
            await harness.engine.drainSideEffects()
            #expect(try await harness.store.collectedData(connectionId: created.uuid)["charts"] != nil)
            #expect(try await harness.request(.delete, "/api/integrations/connections/\(created.id)").status == .noContent)
            await harness.engine.drainSideEffects()
            #expect(try await harness.store.collectedData(connectionId: created.uuid).isEmpty)
        }
    }

    /// `/metrics` is valid Prometheus text, checked by Prometheus' own `promtool`.
    @Test(.enabled(if: ExternalServer.shouldRun(needing: "promtool")))
    func metricsParseAsPrometheusText() async throws {
        let fast = HealthPolicy(interval: .milliseconds(100), registeredInterval: .milliseconds(100), timeout: .seconds(1))
        try await ServerHarness.run(monitor: fast) { harness in
            let one = try await harness.createConnection(name: "one", kind: "http", status: "registered")
            _ = try await harness.createConnection(name: "two", kind: "prometheus")
            try await harness.request(.post, "/api/integrations/connections/\(one.id)/transitions", json: #"{"status": "connected"}"#)
            // Connecting starts a fresh count (health unknown) until the next check lands. The
            // page that shows it is the one checked: a check every 100 ms on a loaded machine
            // can miss its 1 s timeout between two reads.
            var text = ""
            try await waitUntil {
                let response = try await harness.request(.get, "/metrics")
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                text = String(buffer: response.body)
                return text.contains(#"switchboard_monitored_connections{kind="http",health="reachable"} 1"#)
            }

            #expect(text.contains(#"switchboard_connections{kind="http",status="connected"} 1"#), "\(text)")
            #expect(text.contains(#"switchboard_connections{kind="prometheus",status="discovered"} 1"#))
            #expect(text.contains(#"switchboard_connections{kind="grafana",status="connected"} 0"#), "zeros are reported")
            #expect(text.contains(#"switchboard_transitions_total{from="registered",to="connected",actor="user"} 1"#))
            #expect(text.contains(#"switchboard_monitored_connections{kind="http",health="reachable"} 1"#), "\(text)")
            #expect(text.contains("switchboard_probe_duration_seconds_bucket"))

            let folder = try TemporaryDirectory()
            defer { folder.remove() }
            let file = folder.file("metrics.txt")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let promtool = try Program.run("promtool", ["check", "metrics"], inputFile: file)
            let verdict = promtool.text
            // Exit 3 means lint remarks only; a format error is exit 1 with "parsing error".
            #expect(!verdict.contains("error"), "\(verdict)")
            #expect(promtool.status == 0 || promtool.status == 3, "\(verdict)")
        }
    }
}

