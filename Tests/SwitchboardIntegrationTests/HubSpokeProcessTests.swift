import Foundation
import SwitchboardTestSupport
import Testing

/// `switchboard serve --hub` with the real binary: the start refuses a hub it cannot use
/// safely, and a spoke registers, heartbeats and says it stops at SIGTERM.
@Suite struct HubSpokeProcessTests {
    @Test func theStartRefusesAHubItCannotUseSafely() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let token = folder.file("hub-token")
        try "sbt_spoke\n".write(toFile: token, atomically: true, encoding: .utf8)
        try "\n".write(toFile: folder.file("empty-token"), atomically: true, encoding: .utf8)
        let data = folder.file("data")
        let cases: [(arguments: [String], environment: [String: String], words: [String])] = [
            (["--hub", "http://hub.example.com:9081", "--hub-token-file", token], [:],
             ["plain HTTP to another machine", "--hub-allow-http", "(from --hub)"]),
            (["--hub", "https://hub.example.com"], [:], ["hub-token-file is not", "--hub-token-file FILE"]),
            ([], ["SWITCHBOARD_HUB": "https://hub.example.com", "SWITCHBOARD_HUB_TOKEN_FILE": folder.file("empty-token")],
             ["is empty", "(from SWITCHBOARD_HUB_TOKEN_FILE)"]),
            (["--advertise-url", "switchboard.example.com:9081"], [:], ["must start with http:// or https://", "(from --advertise-url)"]),
        ]
        for (arguments, environment, words) in cases {
            let refused = try await ServerProcess.refusal(dataDirectory: data, arguments: arguments, environment: environment)
            #expect(refused.status == 2, "\(arguments) \(environment): \(refused.output)")
            for word in words { #expect(refused.output.contains(word), "\(arguments) \(environment): \(refused.output)") }
        }
        #expect(!FileManager.default.fileExists(atPath: data), "the server started before refusing")
    }

    @Test func aSpokeFromItsSettingsFileRegistersHeartbeatsAndSaysItStops() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let hub = try await StandInHub.start()
        try "sbt_spoke_from_file\n".write(toFile: folder.file("hub-token"), atomically: true, encoding: .utf8)
        try """
            hub: \(hub.baseURL)
            hub-token-file: hub-token          # relative to this file
            hub-heartbeat: 0.2
            advertise-url: https://spoke.example.com:9443/
            """.write(toFile: folder.file("spoke.yaml"), atomically: true, encoding: .utf8)
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"),
                                             arguments: ["--config", folder.file("spoke.yaml")])
        do {
            try await waitUntil(timeout: .seconds(20), "two heartbeats") { hub.received(.heartbeat).count >= 2 }
        } catch {
            _ = await server.stop()
            await hub.stop()
            throw error
        }
        let about = try await server.request(.GET, "/api/system/server")
        #expect(await server.stop() == 0)
        await hub.stop()

        let description = try #require(try JSONSerialization.jsonObject(with: about.body) as? [String: String])
        #expect(description["advertiseUrl"] == "https://spoke.example.com:9443")
        let id = try #require(description["id"])
        let register = try #require(hub.received(.register).first)
        let registration = try #require(try JSONSerialization.jsonObject(with: register.body) as? [String: Any])
        #expect(registration["name"] as? String == "switchboard spoke.example.com:9443")
        #expect((registration["metadata"] as? [String: String])?["server_id"] == id)
        #expect(register.authorization == "Bearer sbt_spoke_from_file")
        #expect(hub.received(.stop).count == 1, "SIGTERM sent \(hub.received(.stop).count) stop requests")
        #expect(hub.received(.stop).first?.path == "/api/integrations/connections/meshery/\(id)/stop")
        let log = try String(contentsOfFile: folder.file("server.log"), encoding: .utf8)
        #expect(log.contains("hub-token-file=\(folder.file("hub-token")) (hub-token-file in \(folder.file("spoke.yaml")))"), "\(log)")
        #expect(log.contains("registered with hub"), "\(log)")
    }
}
