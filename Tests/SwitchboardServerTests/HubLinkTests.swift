import ConnectionLifecycle
import Foundation
import Logging
import ServiceLifecycle
import SwitchboardServer
import StoreContract
import SwitchboardTestSupport
import Synchronization
import Testing

/// The real `HubLink` against a stand-in hub, with a 0.1 s heartbeat: what it sends, what it
/// logs, and how it answers the hub's answers.
@Suite struct HubLinkTests {
    static let token = "sbt_spoke_token_for_the_stand_in_hub"
    static let advertised = "http://127.0.0.1:7777"

    /// A spoke's store, its token file and a stand-in hub.
    struct Spoke: Sendable {
        let hub: StandInHub
        let store: any ConnectionStore
        let folder: TemporaryDirectory
        let logs = LogCapture()

        var tokenFile: String { folder.file("hub-token") }

        static func run(_ body: @Sendable (Spoke) async throws -> Void) async throws {
            let folder = try TemporaryDirectory()
            defer { folder.remove() }
            try HubLinkTests.token.write(toFile: folder.file("hub-token"), atomically: true, encoding: .utf8)
            let hub = try await StandInHub.start()
            let spoke = Spoke(hub: hub, store: try TestStore.sqlite(folder.file("spoke.sqlite")), folder: folder)
            do {
                try await body(spoke)
            } catch {
                await hub.stop()
                throw error
            }
            await hub.stop()
        }

        /// Starts the link in a service group of its own, as `serve` runs it.
        func start(address: AdvertisedAddress = AdvertisedAddress(configured: HubLinkTests.advertised, fallback: "unused"))
            throws -> RunningLink {
            let link = HubLink(
                configuration: try HubConfiguration(url: hub.baseURL, tokenFile: tokenFile),
                store: store, address: address, logger: logs.logger,
                timing: HubLinkTiming(heartbeat: .milliseconds(100), backoffStart: .milliseconds(50)))
            let group = ServiceGroup(configuration: .init(services: [link], logger: Logger(label: "group") { _ in SwiftLogNoOpLogHandler() }))
            let ended = Ended()
            let running = Task {
                try await group.run()
                ended.value.withLock { $0 = true }
            }
            return RunningLink(group: group, running: running, ended: ended)
        }

        func serverId() async throws -> UUID { try await store.serverIdentity() }
    }

    final class Ended: Sendable {
        let value = Mutex(false)
    }

    struct RunningLink {
        let group: ServiceGroup
        let running: Task<Void, any Error>
        let ended: Ended

        /// SIGTERM, as far as the link can tell.
        func shutDown() async throws {
            await group.triggerGracefulShutdown()
            try await running.value
        }
    }

    @Test func registersWithMesherysPayloadAndHeartbeatsTheSummary() async throws {
        try await Spoke.run { spoke in
            let catalog = KindCatalog.builtIn
            for (kind, status) in [("prometheus", ConnectionStatus.registered), ("prometheus", .registered),
                                   ("grafana", .connected), ("helm", .deleted)] {
                try await Seeding.connection(in: spoke.store, kind: try #require(catalog[kind]), status: status,
                                             name: "\(kind)-\(UUID())")
            }
            let link = try spoke.start()
            try await waitUntil(timeout: .seconds(10), "three heartbeats") { spoke.hub.received(.heartbeat).count >= 3 }

            let id = try await spoke.serverId()
            let register = try #require(spoke.hub.received(.register).first)
            let registration = try JSONDecoder().decode(HubWire.Registration.self, from: register.body)
            #expect(registration == HubWire.Registration(
                serverId: id, version: SwitchboardRelease.version, build: SwitchboardRelease.build, advertiseURL: Self.advertised))
            // Meshery's payload, key for key.
            let raw = try #require(try JSONSerialization.jsonObject(with: register.body) as? [String: Any])
            #expect(raw["name"] as? String == "switchboard 127.0.0.1:7777")
            #expect(raw["kind"] as? String == "meshery" && raw["type"] as? String == "platform")
            #expect(raw["subType"] as? String == "management" && raw["status"] as? String == "registered")
            let metadata = try #require(raw["metadata"] as? [String: String])
            #expect(metadata == ["server_id": id.uuidString.lowercased(), "server_version": "0.1.0",
                                 "server_build_sha": "development build", "server_location": Self.advertised])

            let heartbeat = try #require(spoke.hub.received(.heartbeat).first)
            #expect(heartbeat.path == "/api/integrations/connections/meshery/\(id.uuidString.lowercased())/heartbeat")
            let beat = try JSONDecoder().decode(HubWire.Heartbeat.self, from: heartbeat.body)
            #expect(beat.serverId == id.uuidString.lowercased() && beat.advertiseUrl == Self.advertised)
            #expect(beat.version == "0.1.0" && beat.build == "development build")
            #expect(beat.summary == HubWire.Summary(totalCount: 3, byStatus: ["registered": 2, "connected": 1],
                                                    byKind: ["prometheus": 2, "grafana": 1]),
                    "the tombstone is left out")

            // Each heartbeat counts afresh.
            try await Seeding.connection(in: spoke.store, kind: try #require(catalog["helm"]), status: .discovered)
            try await waitUntil(timeout: .seconds(10), "a heartbeat with the new connection") {
                try spoke.hub.received(.heartbeat).contains {
                    try JSONDecoder().decode(HubWire.Heartbeat.self, from: $0.body).summary.totalCount == 4
                }
            }

            try await link.shutDown()
            let stops = spoke.hub.received(.stop)
            #expect(stops.count == 1)
            #expect(try JSONDecoder().decode(HubWire.Stop.self, from: try #require(stops.first).body) == HubWire.Stop(serverId: id))
            #expect(stops.first?.path == "/api/integrations/connections/meshery/\(id.uuidString.lowercased())/stop")
            let afterStop = spoke.hub.received.count
            try await Task.sleep(for: .milliseconds(300))
            #expect(spoke.hub.received.count == afterStop, "nothing is sent after the stop")

            // Every request carries the token and says JSON.
            for request in spoke.hub.received {
                #expect(request.method == "POST")
                #expect(request.authorization == "Bearer \(Self.token)")
                #expect(request.contentType == "application/json")
            }
            #expect(spoke.logs.count("registered with hub") == 1, "\(spoke.logs.text)")
            #expect(spoke.logs.count("hub reports this server as connected") == 1, "\(spoke.logs.text)")
        }
    }

    @Test func aStopTheHubCannotTakeDoesNotHoldTheShutdownUp() async throws {
        try await Spoke.run { spoke in
            let link = try spoke.start()
            try await waitUntil(timeout: .seconds(10), "heartbeating") { spoke.hub.received(.heartbeat).count >= 1 }
            await spoke.hub.stop()
            let clock = ContinuousClock()
            let took = try await clock.measure { try await link.shutDown() }
            #expect(took < .seconds(3), "\(took)")
            #expect(spoke.logs.count("the hub did not take the stop request") == 1, "\(spoke.logs.text)")
        }
    }

    @Test func anOutageIsLoggedOnceAndTheRecoveryOnce() async throws {
        try await Spoke.run { spoke in
            spoke.hub.script(.heartbeat, [.lease(), .problem(503), .problem(503), .problem(503), .problem(503)], then: .lease())
            let link = try spoke.start()
            try await waitUntil(timeout: .seconds(10), "heartbeats after the outage") { spoke.hub.received(.heartbeat).count >= 8 }
            try await link.shutDown()
            #expect(spoke.logs.count("hub unreachable") == 1, "\(spoke.logs.text)")
            #expect(spoke.logs.count("hub reachable again") == 1, "\(spoke.logs.text)")
            #expect(spoke.logs.count("stand-in hub says no") == 1, "the hub's words are in the line: \(spoke.logs.text)")
            #expect(spoke.hub.received(.register).count == 1, "an outage does not register again")
        }
    }

    @Test func goneStopsHeartbeatsUntilTheNextStart() async throws {
        try await Spoke.run { spoke in
            spoke.hub.script(.heartbeat, [.lease(), .problem(410)], then: .lease())
            let link = try spoke.start()
            try await waitUntil(timeout: .seconds(10), "the 410 noticed") { spoke.logs.count("hub deleted this server's connection") > 0 }
            try await Task.sleep(for: .milliseconds(500))
            #expect(spoke.hub.received(.heartbeat).count == 2, "heartbeats went on after 410")
            #expect(!link.ended.value.withLock { $0 }, "the link ended the service group instead of waiting for the shutdown")
            try await link.shutDown()
            #expect(spoke.hub.received(.stop).isEmpty, "a stop was sent for a connection the hub deleted")
            #expect(spoke.logs.count("hub deleted this server's connection") == 1)
        }
    }

    @Test func notFoundRegistersAgain() async throws {
        try await Spoke.run { spoke in
            spoke.hub.script(.heartbeat, [.lease(), .problem(404)], then: .lease())
            let link = try spoke.start()
            try await waitUntil(timeout: .seconds(10), "registered again and heartbeating") {
                spoke.hub.received(.register).count == 2 && spoke.hub.received(.heartbeat).count >= 4
            }
            try await link.shutDown()
            #expect(spoke.hub.received(.register).count == 2)
            #expect(spoke.logs.count("hub does not know this server") == 1, "\(spoke.logs.text)")
        }
    }

    @Test func aRedirectIsNotFollowedSoTheTokenGoesNowhereElse() async throws {
        try await Spoke.run { spoke in
            let elsewhere = try await StandInHub.start()
            spoke.hub.script(.register, then: .redirect(to: "\(elsewhere.baseURL)/api/integrations/connections", status: 307))
            let link = try spoke.start()
            try await waitUntil(timeout: .seconds(10), "three tries, or one that reached the redirect's target") {
                spoke.hub.received(.register).count >= 3 || !elsewhere.received.isEmpty
            }
            try await link.shutDown()
            let leaked = elsewhere.received
            await elsewhere.stop()
            #expect(leaked.isEmpty, "the redirect's target got \(leaked.map(\.path)) with \(leaked.compactMap(\.authorization))")
            #expect(spoke.logs.count("redirect") == 1, "\(spoke.logs.text)")
            #expect(spoke.hub.received(.stop).isEmpty, "never registered, so nothing to stop")
        }
    }

    @Test func aRefusedTokenIsReadAgainBeforeTheNextTry() async throws {
        try await Spoke.run { spoke in
            spoke.hub.script(.register, then: .problem(401, detail: "this token was revoked"))
            let link = try spoke.start()
            try await waitUntil(timeout: .seconds(10), "two refusals") { spoke.hub.received(.register).count >= 2 }
            try "sbt_the_new_token\n".write(toFile: spoke.tokenFile, atomically: true, encoding: .utf8)
            spoke.hub.script(.register, then: .registered())
            try await waitUntil(timeout: .seconds(10), "registered") { spoke.logs.count("registered with hub") == 1 }
            try await link.shutDown()
            #expect(spoke.hub.received(.register).last?.authorization == "Bearer sbt_the_new_token")
            #expect(spoke.hub.received(.stop).first?.authorization == "Bearer sbt_the_new_token")
            #expect(spoke.logs.count("this token was revoked") == 1, "\(spoke.logs.text)")
            #expect(spoke.logs.count("hub reachable again") == 1, "\(spoke.logs.text)")
        }
    }

    @Test func withoutAnAdvertisedURLItWaitsForTheListener() async throws {
        try await Spoke.run { spoke in
            let address = AdvertisedAddress(configured: nil, fallback: "http://127.0.0.1:9081")
            let link = try spoke.start(address: address)
            try await Task.sleep(for: .milliseconds(300))
            #expect(spoke.hub.received.isEmpty, "registered before the listener's address was known")
            address.listenerBound("http://127.0.0.1:5555")
            try await waitUntil(timeout: .seconds(10), "registered") { !spoke.hub.received(.register).isEmpty }
            try await link.shutDown()
            let registration = try JSONDecoder().decode(HubWire.Registration.self,
                                                        from: try #require(spoke.hub.received(.register).first).body)
            #expect(registration.metadata.serverLocation == "http://127.0.0.1:5555")
            #expect(registration.name == "switchboard 127.0.0.1:5555")
        }
    }

    @Test func aShutdownBeforeTheListenerIsBoundEndsQuietly() async throws {
        try await Spoke.run { spoke in
            let link = try spoke.start(address: AdvertisedAddress(configured: nil, fallback: "unused"))
            try await Task.sleep(for: .milliseconds(100))
            try await link.shutDown()
            #expect(spoke.hub.received.isEmpty)
        }
    }
}
