import ConnectionLifecycle
import Foundation
import SwitchboardEngine
import SwitchboardTestSupport
import Testing

/// The real Prometheus from Debian's package, started by the test on a free loopback port,
/// scraping itself: connected, stopped, restarted, and once behind basic auth.
@Suite(.enabled(if: ExternalServer.shouldRun(needing: "prometheus")), .serialized)
struct PrometheusMonitoringTests {
    @Test func followsARealPrometheusDownAndBackUp() async throws {
        try await MonitorHarness.run { harness in
            let prometheus = try await PrometheusServer.start(in: harness.folder)
            defer { prometheus.stop() }
            let url = "http://127.0.0.1:\(prometheus.port)"
            let watched = try await harness.connection("prometheus", kind: "prometheus", url: url,
                                                       path: [.registered, .connected],
                                                       metadata: ["queryIntervalSeconds": .number(0.5)])
            // Another owner's connection to the same Prometheus (one owner cannot have two).
            let adminDisconnected = try await harness.connection("prometheus-parked", kind: "prometheus", url: url,
                                                                 path: [.registered, .connected, .disconnected],
                                                                 owner: UUID())

            // The session keeps the latest `up` result: Prometheus scraping itself.
            try await waitUntil {
                guard case .object(let queries)? = try await harness.store.collectedData(connectionId: watched.id)["queries"]?.value,
                      case .array(let up)? = queries["up"] else { return false }
                return !up.isEmpty
            }

            prometheus.stop()
            try await harness.waitForStatus(watched.id, .disconnected)
            let down = try #require(try await harness.history(watched.id).last)
            #expect(down.actorRole == .system && down.from == .connected)
            #expect(down.reason?.contains("refused") == true, "the reason names the failure: \(down.reason ?? "")")
            #expect(try await harness.store.collectedData(connectionId: watched.id)["queries"] != nil,
                    "a disconnected connection keeps what it collected")

            try await prometheus.restart(readyPath: "/-/ready")
            try await harness.waitForStatus(watched.id, .connected)
            let up = try #require(try await harness.history(watched.id).last)
            #expect(up.actorRole == .system && up.from == .disconnected && up.to == .connected)

            #expect(try await harness.status(adminDisconnected.id) == .disconnected)
            #expect(try await harness.history(adminDisconnected.id).allSatisfy { $0.actorRole == .user })
        }
    }

    @Test func basicAuthNeedsTheCredential() async throws {
        try await MonitorHarness.run { harness in
            let prometheus = try await PrometheusServer.start(in: harness.folder, name: "secured", basicAuth: true)
            defer { prometheus.stop() }
            let url = "http://127.0.0.1:\(prometheus.port)"
            let passwordFile = harness.folder.file("prometheus.password")
            try PrometheusServer.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)

            let anonymous = try await harness.engine.create(NewConnection(name: "no-auth", url: url, kind: "prometheus"),
                                                            by: .user("tester"))
            do {
                try await harness.engine.transition(anonymous.id, to: .registered, by: .user("tester"))
                Issue.record("registered a Prometheus behind basic auth without credentials")
            } catch EngineError.verifyFailed(let connection, _, let reason) {
                #expect(connection.status == .notFound)
                #expect(reason.contains("401"), "\(reason)")
            }

            let authenticated = try await harness.connection(
                "with-auth", kind: "prometheus", url: url, path: [.registered, .connected],
                metadata: ["basicAuthUsername": .string("admin"), "basicAuthPasswordFile": .string(passwordFile),
                           "queryIntervalSeconds": .number(0.5), "queries": .array([.string("prometheus_build_info")])],
                owner: UUID())
            #expect(authenticated.status == .connected)
            try await waitUntil {
                guard case .object(let queries)? = try await harness.store.collectedData(connectionId: authenticated.id)["queries"]?.value
                else { return false }
                return queries["prometheus_build_info"] != nil && queries["up"] != nil
            }
            let (_, ping) = try await harness.engine.ping(authenticated.id)
            #expect(ping.isReachable && ping.details["version"]?.hasPrefix("2.") == true, "\(ping)")
        }
    }
}
