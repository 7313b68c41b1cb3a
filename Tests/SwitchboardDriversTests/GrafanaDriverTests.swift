import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import Hummingbird
import SwitchboardDrivers
import SwitchboardTestSupport
import Synchronization
import Testing

/// Grafana against a stand-in: there is no Grafana server on these machines. The stand-in
/// speaks the parts of Grafana's HTTP API the driver uses, as Grafana does: `/api/health`
/// without auth, `/api/search` only with a valid API key (`Authorization: Bearer …`), 401
/// with Grafana's JSON message otherwise.
@Suite struct GrafanaDriverTests {
    final class GrafanaStandIn: Sendable {
        let validKey = Mutex("glsa_valid-key-1234")

        func router() -> Router<BasicRequestContext> {
            let router = Router()
            router.get("api/health") { _, _ in
                Response(status: .ok, headers: [.contentType: "application/json"],
                         body: .init(byteBuffer: ByteBuffer(string: #"{"commit":"abc123","database":"ok","version":"10.4.1"}"#)))
            }
            router.get("api/search") { request, _ in
                let key = self.validKey.withLock { $0 }
                guard request.headers[.authorization] == "Bearer \(key)" else {
                    return Response(status: .unauthorized, headers: [.contentType: "application/json"],
                                    body: .init(byteBuffer: ByteBuffer(string: #"{"message":"invalid API key"}"#)))
                }
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: """
                    [{"id":1,"uid":"cluster-overview","title":"Cluster overview","url":"/d/cluster-overview/cluster-overview","type":"dash-db"},
                     {"id":2,"uid":"slo","title":"SLOs","url":"/d/slo/slos","type":"dash-db"}]
                    """)))
            }
            return router
        }
    }

    @Test func verifiesWithTheAPIKeyAndKeepsTheDashboardList() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let grafana = GrafanaStandIn()
        let server = try await LiveServer.start(router: grafana.router())
        let keyFile = folder.file("grafana.key")
        try "glsa_valid-key-1234\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let wrongFile = folder.file("wrong.key")
        try "glsa_wrong".write(toFile: wrongFile, atomically: true, encoding: .utf8)

        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let driver = GrafanaDriver(http: OutboundHTTP(client: client), credentials: FileReferenceCredentials())
        func connection(keyFile: String?) -> Connection {
            Connection(name: "grafana", url: "http://127.0.0.1:\(server.port)", kind: "grafana", type: "telemetry",
                       subType: "metrics", status: .registered,
                       metadata: keyFile.map { ["apiKeyFile": .string($0)] } ?? [:], createdAt: .now, updatedAt: .now)
        }

        let good = await driver.verify(connection(keyFile: keyFile))
        #expect(good.health == .reachable && good.details["version"] == "10.4.1", "\(good.error ?? "")")
        let wrong = await driver.verify(connection(keyFile: wrongFile))
        #expect(wrong.health == .unauthorized && wrong.error?.contains("401") == true)
        let none = await driver.verify(connection(keyFile: nil))
        #expect(none.health == .unauthorized)
        let unreadable = await driver.verify(connection(keyFile: folder.file("missing.key")))
        #expect(unreadable.health == .unknown && unreadable.error?.contains("missing.key") == true)

        let sink = MemorySink()
        let session = Task { try await driver.runSession(connection(keyFile: keyFile), sink: sink) }
        try await waitUntil { await sink.values["dashboards"] != nil }
        session.cancel()
        guard case .array(let dashboards)? = await sink.values["dashboards"] else { Issue.record("no dashboards"); return }
        #expect(dashboards.count == 2)
        #expect(dashboards.first == .object(["uid": .string("cluster-overview"), "title": .string("Cluster overview"),
                                             "url": .string("/d/cluster-overview/cluster-overview")]))

        // A revoked key: the probe (health only) still answers, the verify does not.
        grafana.validKey.withLock { $0 = "glsa_rotated" }
        #expect(await driver.verify(connection(keyFile: keyFile)).health == .unauthorized)
        try await client.shutdown()
        await server.stop()
    }
}
