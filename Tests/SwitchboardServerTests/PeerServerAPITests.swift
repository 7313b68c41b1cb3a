import ConnectionLifecycle
import Foundation
import HTTPTypes
import HummingbirdTesting
import SwitchboardTestSupport
import Testing

/// Issue 16, the hub's side in process: a spoke registers with Meshery's payload, its
/// heartbeats move its connection and keep a lease, a lapsed lease disconnects it, and an
/// admin's decisions stand. The spoke here is the test sending what a spoke sends.
struct PeerServerAPITests {
    struct Answer: Decodable { var connectionId: String; var status: String; var leaseSeconds: Int; var leaseExpiresAt: String }
    struct Lease: Decodable { var state: String; var lastHeartbeatAt: String?; var lastError: String? }
    struct Peer: Decodable { var id: String; var status: String; var metadata: [String: JSONValue]; var lease: Lease? }
    struct Page: Decodable { var connections: [Peer]; var totalCount: Int }

    static func registration(_ serverId: UUID, location: String = "http://127.0.0.1:7001", version: String = "0.1.0") -> String {
        """
        {"name": "switchboard 127.0.0.1:7001", "kind": "meshery", "type": "platform", "subType": "management",
         "status": "registered", "metadata": {"server_id": "\(serverId.lowercasedString)", "server_version": "\(version)",
         "server_build_sha": "development build", "server_location": "\(location)"}}
        """
    }

    static func heartbeat(_ serverId: UUID, total: Int = 3) -> String {
        """
        {"serverId": "\(serverId.lowercasedString)", "version": "0.1.0", "build": "development build",
         "advertiseUrl": "http://127.0.0.1:7001",
         "summary": {"totalCount": \(total), "byStatus": {"connected": 2, "registered": 1}, "byKind": {"http": \(total)}}}
        """
    }

    static func beat(_ harness: ServerHarness, _ serverId: UUID, token: String) async throws -> TestResponse {
        try await harness.request(.post, "/api/integrations/connections/meshery/\(serverId.lowercasedString)/heartbeat",
                                  json: heartbeat(serverId), token: token)
    }

    static func peer(_ harness: ServerHarness, _ id: String) async throws -> Peer {
        try decode(Peer.self, try await harness.request(.get, "/api/integrations/connections/\(id)"))
    }

    @Test func registrationHeartbeatsAndALapsedLease() async throws {
        try await ServerHarness.run(hubLease: .seconds(5)) { harness in
            let spoke = try await harness.tokens.issue(for: "site-a", role: .server).token
            let serverId = UUID()
            let created = try await harness.request(.post, "/api/integrations/connections", json: Self.registration(serverId), token: spoke)
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let first = try decode(Peer.self, created)
            #expect(first.status == "registered" && first.lease?.state == "none")

            // A restart registers again: the same connection, refreshed, status kept.
            let again = try await harness.request(.post, "/api/integrations/connections",
                                                  json: Self.registration(serverId, location: "http://127.0.0.1:7002", version: "0.2.0"), token: spoke)
            #expect(again.status == .ok, "\(String(buffer: again.body))")
            let refreshed = try decode(Peer.self, again)
            #expect(refreshed.id == first.id && refreshed.status == "registered")
            #expect(refreshed.metadata["server_version"] == .string("0.2.0") && refreshed.metadata["server_location"] == .string("http://127.0.0.1:7002"))

            // The first heartbeat connects it, as the system, saying why.
            let beat = try await Self.beat(harness, serverId, token: spoke)
            #expect(beat.status == .ok, "\(String(buffer: beat.body))")
            let answer = try decode(Answer.self, beat)
            #expect(answer.connectionId == first.id && answer.status == "connected" && answer.leaseSeconds == 5)
            let connectedBy = try await harness.history(try #require(UUID(uuidString: first.id))).last
            #expect(connectedBy?.to == .connected && connectedBy?.actor == "system"
                    && connectedBy?.reason?.hasPrefix("first heartbeat at ") == true, "\(String(describing: connectedBy))")

            // Its report is the connection's collected data; the list shows the lease.
            let data = String(buffer: try await harness.request(.get, "/api/integrations/connections/\(first.id)/data").body)
            #expect(data.contains(#""totalCount":3"#) && data.contains(#""connected":2"#) && data.contains(#""version":"0.1.0""#), "\(data)")
            // (A heartbeat just before, so the lease is fresh however slow the machine is.)
            _ = try await Self.beat(harness, serverId, token: spoke)
            let listed = try decode(Page.self, try await harness.request(.get, "/api/integrations/connections?kind=meshery"))
            #expect(listed.totalCount == 1 && listed.connections.first?.lease?.state == "alive", "\(listed)")

            // No heartbeat for a whole lease: disconnected, by the system, with the time.
            try await waitUntil(timeout: .seconds(10), "lease lapsed") {
                try await Self.peer(harness, first.id).status == "disconnected"
            }
            let lapse = try await harness.history(try #require(UUID(uuidString: first.id))).last
            #expect(lapse?.actor == "system" && lapse?.reason?.hasPrefix("no heartbeat since ") == true, "\(String(describing: lapse))")
            #expect(try await Self.peer(harness, first.id).lease?.state == "lapsed")

            // Heartbeats again: back to connected, since the system disconnected it.
            #expect(try decode(Answer.self, try await Self.beat(harness, serverId, token: spoke)).status == "connected")
            let back = try await harness.history(try #require(UUID(uuidString: first.id))).last
            #expect(back?.reason?.hasPrefix("heartbeats resumed at ") == true, "\(String(describing: back))")

            // A graceful stop: disconnected at once, history kept.
            let stopped = try await harness.request(.post, "/api/integrations/connections/meshery/\(serverId.lowercasedString)/stop",
                                                    json: #"{"serverId": "\#(serverId.lowercasedString)"}"#, token: spoke)
            #expect(stopped.status == .ok)
            #expect(try decode(Peer.self, stopped).status == "disconnected")
            #expect(try await harness.history(try #require(UUID(uuidString: first.id))).last?.reason == "server stopped")
        }
    }

    @Test func anAdminsDecisionsStandAndADeletedPeerIsGone() async throws {
        try await ServerHarness.run(hubLease: .seconds(30)) { harness in
            let spoke = try await harness.tokens.issue(for: "site-b", role: .server).token
            let serverId = UUID()
            let id = try decode(Peer.self, try await harness.request(.post, "/api/integrations/connections",
                                                                    json: Self.registration(serverId), token: spoke)).id
            _ = try await Self.beat(harness, serverId, token: spoke)
            for status in ["maintenance", "disconnected", "ignored"] {
                let moved = try await harness.request(.post, "/api/integrations/connections/\(id)/transitions",
                                                      json: #"{"status": "\#(status)"}"#)
                #expect(moved.status == .ok, "\(status): \(String(buffer: moved.body))")
                let answer = try decode(Answer.self, try await Self.beat(harness, serverId, token: spoke))
                #expect(answer.status == status, "a heartbeat undid an admin's \(status)")
                #expect(try await Self.peer(harness, id).lease?.state == "alive")
                if status == "maintenance" {
                    // The admin ends maintenance: the lease is alive, so the check passes.
                    let resumed = try await harness.request(.post, "/api/integrations/connections/\(id)/transitions",
                                                            json: #"{"status": "connected"}"#)
                    #expect(resumed.status == .ok, "\(String(buffer: resumed.body))")
                }
            }
            // Meshery's deregistration route deletes it; later heartbeats are told it is gone.
            let serverPath = "/api/integrations/connections/meshery/\(serverId.lowercasedString)"
            #expect(try await harness.request(.delete, serverPath, token: spoke).status == .noContent)
            #expect(try await Self.peer(harness, id).status == "deleted")
            _ = try expectProblem(try await Self.beat(harness, serverId, token: spoke), .gone)
            _ = try expectProblem(try await harness.request(.delete, serverPath, token: spoke), .gone)
            // Registering again (the next start) makes a new connection.
            let fresh = try await harness.request(.post, "/api/integrations/connections", json: Self.registration(serverId), token: spoke)
            let freshPeer = try decode(Peer.self, fresh)
            #expect(fresh.status == .created && freshPeer.id != id)
        }
    }

    /// A lease runs out whatever the status: a server in maintenance that stops sending
    /// heartbeats shows a lapsed lease (and stays in maintenance); and no server is created
    /// `connected`, where nothing would ever let its lease lapse.
    @Test func aLeaseLapsesInMaintenanceToo() async throws {
        try await ServerHarness.run(hubLease: .seconds(1)) { harness in
            let spoke = try await harness.tokens.issue(for: "site-e", role: .server).token
            let refused = Self.registration(UUID()).replacingOccurrences(of: #""status": "registered""#, with: #""status": "connected""#)
            let problem = try expectProblem(try await harness.request(.post, "/api/integrations/connections", json: refused, token: spoke),
                                            .badRequest)
            #expect(problem.field == "status", "\(problem)")
            let serverId = UUID()
            let id = try decode(Peer.self, try await harness.request(.post, "/api/integrations/connections",
                                                                    json: Self.registration(serverId), token: spoke)).id
            _ = try await Self.beat(harness, serverId, token: spoke)
            #expect(try await harness.request(.post, "/api/integrations/connections/\(id)/transitions",
                                              json: #"{"status": "maintenance"}"#).status == .ok)
            try await waitUntil(timeout: .seconds(10), "the lease lapsed") { try await Self.peer(harness, id).lease?.state == "lapsed" }
            let peer = try await Self.peer(harness, id)
            #expect(peer.status == "maintenance" && peer.lease?.lastError?.hasPrefix("no heartbeat since ") == true, "\(peer)")
        }
    }

    @Test func aServerTokenReachesOnlyItsOwnRegistration() async throws {
        try await ServerHarness.run(hubLease: .seconds(30)) { harness in
            let spoke = try await harness.tokens.issue(for: "site-c", role: .server).token
            let other = try await harness.tokens.issue(for: "site-d", role: .server).token
            let serverId = UUID()
            _ = try await harness.request(.post, "/api/integrations/connections", json: Self.registration(serverId), token: spoke)

            // Another user's server id is unknown to this token: 404, nothing changes.
            _ = try expectProblem(try await Self.beat(harness, serverId, token: other), .notFound, "another's heartbeat")
            _ = try expectProblem(try await harness.request(.delete, "/api/integrations/connections/meshery/\(serverId.lowercasedString)",
                                                            token: other), .notFound)
            _ = try expectProblem(try await Self.beat(harness, UUID(), token: spoke), .notFound, "never registered")
            // Only servers may be registered with it.
            _ = try expectProblem(try await harness.request(.post, "/api/integrations/connections",
                json: #"{"name": "p", "kind": "prometheus", "url": "\#(harness.target.reachableURL)/p"}"#, token: spoke), .forbidden)

            // Every other route of the router: 403 (public ones aside: they need no token).
            let openPaths: Set<String> = ["/healthz", "/readyz", "/metrics", "/api/openapi.yaml", "/", "/index.html", "/app.js", "/app.css"]
            let allowed: Set<String> = ["POST /api/integrations/connections", "POST /api/integrations/connections/meshery/{serverId}/heartbeat",
                                        "POST /api/integrations/connections/meshery/{serverId}/stop",
                                        "DELETE /api/integrations/connections/meshery/{serverId}"]
            var checked = 0
            for route in harness.routes where !openPaths.contains(route.path) && !allowed.contains("\(route.method) \(route.path)") {
                let path = route.path.replacing(/\{[A-Za-z]+\}/, with: UUID().uuidString.lowercased())
                let json: String? = [.post, .put, .patch].contains(route.method) ? "{}" : nil
                _ = try expectProblem(try await harness.request(route.method, path, json: json, token: spoke), .forbidden,
                                      "\(route.method) \(route.path)")
                checked += 1
            }
            #expect(checked > 20, "only \(checked) routes checked: \(harness.routes)")
            // And it changed nothing.
            let count = String(buffer: try await harness.request(.get, "/api/integrations/connections").body)
            #expect(count.contains(#""totalCount":1"#), "\(count)")
        }
    }
}
