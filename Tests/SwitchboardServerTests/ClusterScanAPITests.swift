import ConnectionLifecycle
import Foundation
import HTTPTypes
import HummingbirdTesting
import StoreContract
import SwitchboardTestSupport
import Testing

/// The in-cluster scan against a Kubernetes API server stand-in (no real API server exists
/// on these machines): its services carry labels and ports, and its service proxy answers
/// like Prometheus or Grafana for the services a test says run them.
@Suite(.serialized)
struct ClusterScanAPITests {
    static func scanned(_ harness: ServerHarness) async throws -> [Connection] {
        try await harness.engine.list(ConnectionQuery(kinds: ["prometheus", "grafana"], statuses: ConnectionStatus.allCases,
                                                      pageSize: 100)).connections
    }

    @Test func aConnectedClusterDiscoversItsPrometheusAndGrafana() async throws {
        try await KubeconfigImportAPITests.Clusters.with { clusters in
            // Without auto-registration the children stay `discovered`, as discovery made them.
            try await ServerHarness.run(autoRegister: false) { harness in
                let cluster = clusters.alpha
                await cluster.addService("prometheus-server", namespace: "monitoring",
                                         labels: ["app.kubernetes.io/name": "prometheus"], port: 9090, answersAs: "prometheus")
                await cluster.addService("grafana", namespace: "monitoring", labels: ["app": "grafana"], port: 3000,
                                         answersAs: "grafana")
                // Labelled like Prometheus, but its proxy does not answer like one: not a target.
                await cluster.addService("impostor", namespace: "default", labels: ["app": "prometheus"], port: 9090)

                let imported = try await KubeconfigImportAPITests.importFile(
                    harness, try clusters.kubeconfig(only: ["alpha"]), ["connectReachable": "true"])
                #expect(try imported.result("alpha").outcome == "connected")
                let parentId = try #require(try imported.result("alpha").connectionId)
                let parentUUID = try #require(UUID(uuidString: parentId))
                let parent = try #require(try await harness.store.connection(id: parentUUID))

                try await waitUntil(timeout: .seconds(20)) { try await Self.scanned(harness).count >= 2 }
                let children = try await Self.scanned(harness)
                #expect(children.count == 2)
                #expect(Set(children.map(\.kind)) == ["prometheus", "grafana"])
                for child in children {
                    #expect(child.status == .discovered)
                    #expect(child.metadata["parentConnectionId"] == .string(parentId))
                    #expect(child.credentialId == parent.credentialId, "the child reaches the cluster with its credential")
                    #expect(child.url?.hasPrefix("\(cluster.tokenServerURL)/api/v1/namespaces/monitoring/services/") == true)
                    let history = try await harness.history(child.id)
                    #expect(history.first?.actor == "system" && history.first?.reason?.contains("cluster scan") == true)
                }
                let prometheus = try #require(children.first { $0.kind == "prometheus" })
                // Reachable through the API server's proxy, with the cluster's auth.
                let ping = try await harness.request(.post, "/api/integrations/connections/\(prometheus.id.lowercasedString)/ping")
                #expect(String(buffer: ping.body).contains(#""reachable":true"#), "\(String(buffer: ping.body))")

                // Ignored stays ignored: a rescan (a new service appears) does not bring it back.
                let ignored = try await harness.request(
                    .post, "/api/integrations/connections/\(prometheus.id.lowercasedString)/transitions",
                    json: #"{"status": "ignored"}"#)
                #expect(ignored.status == .ok)
                await cluster.addService("prometheus-team", namespace: "team", labels: ["app": "prometheus"], port: 9090,
                                         answersAs: "prometheus")
                try await waitUntil(timeout: .seconds(20)) { try await Self.scanned(harness).count >= 3 }
                let rescanned = try await Self.scanned(harness)
                #expect(rescanned.filter { $0.kind == "prometheus" }.count == 2)
                #expect(try await harness.store.connection(id: prometheus.id)?.status == .ignored)

                // Deleting the cluster leaves its children, with the parent's deletion noted.
                let deleted = try await harness.request(.delete, "/api/integrations/connections/\(parentId)")
                #expect(deleted.status == .noContent)
                for child in rescanned {
                    let after = try #require(try await harness.store.connection(id: child.id))
                    #expect(after.status == child.status)
                    #expect(after.metadata["parentDeleted"] == .bool(true))
                    #expect(after.credentialId == parent.credentialId)
                }
                // The shared credential outlives the parent while children use it.
                await harness.engine.drainSideEffects()
                let credentialId = try #require(parent.credentialId)
                #expect(try await harness.credentials.credential(id: credentialId) != nil)
            }
        }
    }
}
