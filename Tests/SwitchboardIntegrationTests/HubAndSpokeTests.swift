import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardTestSupport
import Testing

/// Issue 16 with real processes: one `switchboard serve` is the hub, another registers with
/// it as a spoke (`--hub`), with short heartbeat and lease settings. The hub's connection for
/// the spoke follows the spoke's life: registered, connected on the first heartbeat,
/// disconnected when it dies or stops, connected again when it returns, and an admin's
/// decisions stand.
@Suite(.serialized) struct HubAndSpokeTests {
    static let lease = 3.0
    static let heartbeat = 0.3

    struct Peer: Decodable {
        var id: String
        var status: String
        var metadata: [String: JSONLeaf]
        var lease: Lease?
        struct Lease: Decodable { var state: String; var lastHeartbeatAt: String? }
    }

    /// A metadata value as a string, whatever JSON scalar it was.
    struct JSONLeaf: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            text = (try? container.decode(String.self)) ?? (try? container.decode(Double.self)).map { "\($0)" } ?? ""
        }
    }

    struct Page: Decodable { var connections: [Peer]; var totalCount: Int }
    struct Event: Decodable { var from: String?; var to: String; var actor: String; var reason: String?; var createdAt: String? }
    struct Events: Decodable { var events: [Event] }
    struct Server: Decodable { var id: String }

    /// The hub, a server token for a spoke, and the token's file.
    struct Hub {
        var process: ServerProcess
        var tokenFile: String
    }

    static func startHub(_ folder: TemporaryDirectory, port: Int? = nil, log: String = "hub.log") async throws -> ServerProcess {
        try await ServerProcess(dataDirectory: folder.file("hub"), logPath: folder.file(log),
                                arguments: ["--hub-lease", "\(lease)"] + (port.map { ["--port", "\($0)"] } ?? []))
    }

    static func serverToken(_ folder: TemporaryDirectory) async throws -> String {
        let cli = SwitchboardCLI(server: nil, token: nil, config: folder.file("cli.yaml"))
        let made = try await cli("token", "create", "--data-dir", folder.file("hub"), "--user", "site-a", "--role", "server")
        #expect(made.status == 0, "\(made.errors)")
        let file = folder.file("hub-token")
        try made.output.trimmingCharacters(in: .whitespacesAndNewlines).write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    static func startSpoke(_ folder: TemporaryDirectory, hub: ServerProcess, tokenFile: String, log: String = "spoke.log") async throws -> ServerProcess {
        try await ServerProcess(dataDirectory: folder.file("spoke"), logPath: folder.file(log),
                                arguments: ["--hub", hub.address, "--hub-token-file", tokenFile, "--hub-heartbeat", "\(heartbeat)"])
    }

    /// The hub's connections of kind meshery.
    static func peers(_ hub: ServerProcess) async throws -> Page {
        let (status, body) = try await hub.request(.GET, "/api/integrations/connections?kind=meshery&pagesize=all")
        #expect(status == 200)
        return try JSONDecoder().decode(Page.self, from: body)
    }

    static func peer(_ hub: ServerProcess, _ id: String) async throws -> Peer {
        try JSONDecoder().decode(Peer.self, from: try await hub.request(.GET, "/api/integrations/connections/\(id)").body)
    }

    static func events(_ hub: ServerProcess, _ id: String) async throws -> [Event] {
        let (_, body) = try await hub.request(.GET, "/api/integrations/connections/\(id)/events?pageSize=100")
        return try JSONDecoder().decode(Events.self, from: body).events
    }

    /// Polls the hub until the peer's status is `status`; answers the seconds it took.
    @discardableResult
    static func wait(_ hub: ServerProcess, _ id: String, until status: String, timeout: Duration = .seconds(20)) async throws -> Double {
        let start = ContinuousClock.now
        try await waitUntil(timeout: timeout, "spoke \(status) on the hub") { try await peer(hub, id).status == status }
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func log(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test func aSpokeRegistersHeartbeatsDiesAndComesBack() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let hub = try await Self.startHub(folder)
        let tokenFile = try await Self.serverToken(folder)
        var spoke = try await Self.startSpoke(folder, hub: hub, tokenFile: tokenFile)
        let target = try await StandInHTTPServer.start()
        defer { Task { await target.stop() } }
        for name in ["a", "b"] {
            let (status, _) = try await spoke.request(.POST, "/api/integrations/connections",
                                                      body: #"{"name": "\#(name)", "kind": "http", "url": "\#(target.reachableURL)/\#(name)", "status": "registered"}"#)
            #expect(status == 201)
        }

        // Registered, then connected by the first heartbeat, as the system.
        try await waitUntil(timeout: .seconds(20), "the spoke registered") { try await Self.peers(hub).totalCount == 1 }
        let id = try #require(try await Self.peers(hub).connections.first?.id)
        try await Self.wait(hub, id, until: "connected")
        let history = try await Self.events(hub, id)
        #expect(history.contains { $0.from == nil && $0.to == "registered" }, "\(history)")
        #expect(history.contains { $0.from == "registered" && $0.to == "connected" && $0.actor == "system"
            && $0.reason?.hasPrefix("first heartbeat at ") == true }, "\(history)")
        let (_, identity) = try await spoke.request(.GET, "/api/system/server")
        let serverId = try JSONDecoder().decode(Server.self, from: identity).id
        #expect(try await Self.peer(hub, id).metadata["server_id"]?.text == serverId)
        #expect(try await Self.peer(hub, id).metadata["server_location"]?.text == spoke.address)
        // Its heartbeats carry its own connections.
        try await waitUntil(timeout: .seconds(10), "the spoke's counts on the hub") {
            let data = String(decoding: try await hub.request(.GET, "/api/integrations/connections/\(id)/data").body, as: UTF8.self)
            return data.contains(#""totalCount":2"#) && data.contains(#""registered":2"#) && data.contains(#""http":2"#)
        }
        #expect(try await Self.peers(hub).connections.first?.lease?.state == "alive")
        // `connection view` on the hub says the same.
        let view = try await SwitchboardCLI(server: hub.address, token: hub.adminToken, config: folder.file("admin.yaml"))(
            "connection", "view", id)
        #expect(view.output.contains("LEASE       alive, last heartbeat ") && view.output.contains(", until "), "\(view.output)\(view.errors)")
        #expect(view.output.contains("SPOKE       version 0.1.0, 2 connections: registered 2"), "\(view.output)")

        // SIGKILL: nothing said; the lease runs out and the hub disconnects it.
        spoke.kill()
        let lapsed = try await Self.wait(hub, id, until: "disconnected")
        #expect(lapsed <= Self.lease + Self.heartbeat + 1.0, "disconnected \(lapsed) s after the kill")
        let lapse = try #require(try await Self.events(hub, id).first)
        #expect(lapse.actor == "system" && lapse.reason?.hasPrefix("no heartbeat since ") == true, "\(lapse)")
        #expect(try await Self.peer(hub, id).lease?.state == "lapsed")

        // The same spoke again: the same connection, connected again, no duplicate.
        spoke = try await Self.startSpoke(folder, hub: hub, tokenFile: tokenFile, log: "spoke2.log")
        try await Self.wait(hub, id, until: "connected")
        #expect(try await Self.peers(hub).totalCount == 1)
        #expect(try await Self.events(hub, id).first?.reason?.hasPrefix("heartbeats resumed at ") == true)

        // SIGTERM: it says it is stopping; the hub disconnects it within a second (timed by
        // the hub's event, on this machine's clock, so the test's polling does not count).
        let stopping = Date()
        let running = spoke
        let exited = Task { await running.stop() }
        try await waitUntil(timeout: .seconds(5), "server stopped") { try await Self.peer(hub, id).status == "disconnected" }
        #expect(await exited.value == 0)
        let stop = try #require(try await Self.events(hub, id).first)
        #expect(stop.reason == "server stopped", "\(stop)")
        let recorded = try Date(try #require(stop.createdAt), strategy: .iso8601)
        #expect(recorded.timeIntervalSince(stopping) < 1, "the hub recorded the stop \(recorded.timeIntervalSince(stopping)) s after SIGTERM")
        #expect(await hub.stop() == 0)
    }

    @Test func anAdminsDecisionsStandAndADeletedSpokeStops() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let hub = try await Self.startHub(folder)
        let tokenFile = try await Self.serverToken(folder)
        let spoke = try await Self.startSpoke(folder, hub: hub, tokenFile: tokenFile)
        try await waitUntil(timeout: .seconds(20), "the spoke registered") { try await Self.peers(hub).totalCount == 1 }
        let id = try #require(try await Self.peers(hub).connections.first?.id)
        try await Self.wait(hub, id, until: "connected")

        // Maintenance: heartbeats keep coming (the lease stays alive past several leases'
        // worth of time) and the status stays.
        let (moved, _) = try await hub.request(.POST, "/api/integrations/connections/\(id)/transitions", body: #"{"status": "maintenance"}"#)
        #expect(moved == 200)
        let before = try await Self.peer(hub, id).lease?.lastHeartbeatAt
        try await Task.sleep(for: .seconds(Self.lease * 1.5))
        let during = try await Self.peer(hub, id)
        #expect(during.status == "maintenance" && during.lease?.state == "alive", "\(during)")
        #expect(during.lease?.lastHeartbeatAt != before, "no heartbeat arrived during maintenance")

        // Deleted: the spoke is told 410 and stops heartbeating (one refusal on the hub).
        let (deleted, _) = try await hub.request(.DELETE, "/api/integrations/connections/\(id)")
        #expect(deleted == 204)
        try await Task.sleep(for: .seconds(Self.heartbeat * 8))
        let refusals = Self.log(hub.logPath).components(separatedBy: "refused a request from a server whose connection was deleted").count - 1
        #expect(refusals == 1, "the hub refused \(refusals) heartbeats")
        #expect(try await Self.peers(hub).totalCount == 0, "the spoke registered again")
        #expect(await spoke.stop() == 0)
        #expect(await hub.stop() == 0)
    }

    @Test func theSpokeRidesOutAHubOutage() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var hub = try await Self.startHub(folder)
        let port = try #require(URLComponents(string: hub.address)?.port)
        let tokenFile = try await Self.serverToken(folder)
        let spoke = try await Self.startSpoke(folder, hub: hub, tokenFile: tokenFile)
        try await waitUntil(timeout: .seconds(20), "the spoke registered") { try await Self.peers(hub).totalCount == 1 }
        let id = try #require(try await Self.peers(hub).connections.first?.id)
        try await Self.wait(hub, id, until: "connected")

        // The hub is away for many heartbeats, then back on the same address.
        let before = try #require(try await Self.peer(hub, id).lease?.lastHeartbeatAt)
        #expect(await hub.stop() == 0)
        try await Task.sleep(for: .seconds(Self.heartbeat * 10))
        hub = try await Self.startHub(folder, port: port, log: "hub2.log")
        try await waitUntil(timeout: .seconds(30), "a heartbeat after the outage") {
            let lease = try await Self.peer(hub, id).lease
            return lease?.state == "alive" && (lease?.lastHeartbeatAt ?? before) > before
        }
        #expect(try await Self.peer(hub, id).status == "connected")
        // One line when the hub went away and one when it came back, not one per try.
        try await waitUntil(timeout: .seconds(5), "the spoke saw the hub again") {
            Self.log(spoke.logPath).contains("hub reachable again")
        }
        let log = Self.log(spoke.logPath)
        let away = log.components(separatedBy: "hub unreachable").count - 1
        let back = log.components(separatedBy: "hub reachable again").count - 1
        #expect(away == 1 && back == 1, "spoke log:\n\(log)")
        #expect(await spoke.stop() == 0)
        #expect(await hub.stop() == 0)
    }
}
