import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardTestSupport
import Testing

/// The `switchboard connection …` commands: the real binary against a real server.
@Suite(.serialized)
struct ConnectionCLITests {
    static func cli(_ arguments: [String], server: String, token: String) async throws -> SwitchboardCLI.Run {
        let folder = NSTemporaryDirectory() + "switchboard-cli-\(UUID().uuidString).yaml"
        return try await SwitchboardCLI(server: server, token: token, config: folder).run(arguments)
    }

    @Test func listViewTransitionAndExitCodes() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let token = server.adminToken
        var request = HTTPClientRequest(url: "\(server.address)/api/integrations/connections")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        var ids: [String] = []
        for name in ["alpha", "beta"] {
            request.body = .bytes(ByteBuffer(string: #"{"name": "\#(name)", "kind": "http", "url": "\#(target.reachableURL)/\#(name)"}"#))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            struct Created: Decodable { var id: String }
            ids.append(try JSONDecoder().decode(Created.self, from: Data(body.readableBytesView)).id)
        }
        func cli(_ arguments: String...) async throws -> SwitchboardCLI.Run { try await Self.cli(arguments, server: server.address, token: token) }

        let table = try await cli("connection", "list")
        #expect(table.status == 0, "\(table.errors)")
        let lines = table.output.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ID") == true && lines.first?.contains("HEALTH") == true)
        #expect(lines.contains { $0.contains("alpha") && $0.contains("discovered") })
        #expect(lines.last == "2 connections: discovered 2")

        struct Page: Decodable { var connections: [Item]; struct Item: Decodable { var id: String; var name: String } }
        let json = try await cli("connection", "list", "-o", "json", "--search", "alpha")
        #expect(try JSONDecoder().decode(Page.self, from: Data(json.output.utf8)).connections.map(\.name) == ["alpha"])
        let yaml = try await cli("connection", "view", ids[1], "-o", "yaml")
        #expect(yaml.status == 0 && yaml.output.contains("name: beta") && yaml.output.contains("version: 1"))

        // A bulk move with one good id and one unknown: a line each, and exit code 1.
        let unknown = UUID().uuidString.lowercased()
        let moved = try await cli("connection", "transition", ids[0], unknown, "--to", "registered", "--reason", "cli test")
        #expect(moved.status == 1)
        #expect(moved.output.contains("\(ids[0])  registered"))
        #expect(moved.output.contains("\(unknown)  failed: connection \(unknown) does not exist"))
        let events = try await cli("connection", "events", ids[0])
        #expect(events.output.contains("registered") && events.output.contains("cli test") && events.output.contains("admin"))

        // ping checks now and leaves the status alone; delete leaves a tombstone.
        let ping = try await cli("connection", "ping", ids[0], "-o", "json")
        #expect(ping.status == 0 && jsonField(ping.output, "reachable") as? Bool == true, "\(ping.output)\(ping.errors)")
        #expect(jsonField(ping.output, "status") as? String == "registered")
        let deleted = try await cli("connection", "delete", ids[1], unknown)
        #expect(deleted.status == 1 && deleted.output.contains("\(ids[1])  deleted") && deleted.output.contains("\(unknown)  failed: "))
        #expect(try await cli("connection", "view", ids[1]).output.contains("deleted"))

        let refused = try await cli("connection", "view", unknown)
        #expect(refused.status == 1 && refused.errors.contains("does not exist"), "\(refused.errors)")
        #expect(try await cli("connection", "list", "--output", "xml").status == 2)
        #expect(try await Self.cli(["connection", "list"], server: "http://127.0.0.1:1", token: token).status == 3)
        #expect(try await Self.cli(["connection", "list"], server: server.address, token: "sbt_wrong").status == 1)

        #expect(await server.stop() == 0)
        await target.stop()
    }

    /// Text another user wrote (a reason, a description) reaches an admin's terminal with its
    /// control characters escaped: no escape sequence, CR, LF or bidi override gets through to
    /// the terminal in a table, while JSON keeps the text exact. Names with them are refused.
    @Test func terminalTablesEscapeControlCharacters() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        func cli(_ arguments: String...) async throws -> SwitchboardCLI.Run {
            try await Self.cli(arguments, server: server.address, token: server.adminToken)
        }
        let hostile = "\u{1B}]0;owned\u{07}\u{1B}[2Jcleared\r\nFAKE  registered\u{202E}gnp.exe\u{9B}31m"
        let reason = String(decoding: try JSONEncoder().encode(hostile), as: UTF8.self)

        let refused = try await server.request(.POST, "/api/integrations/connections",
                                               body: #"{"name": \#(reason), "kind": "http", "url": "http://127.0.0.1:1/x"}"#)
        #expect(refused.status == 400 && String(decoding: refused.body, as: UTF8.self).contains("U+001B"))

        let created = try await server.request(.POST, "/api/integrations/connections",
                                               body: #"{"name": "plain", "kind": "http", "url": "http://127.0.0.1:1/plain"}"#)
        let id = try #require(jsonField(String(decoding: created.body, as: UTF8.self), "id") as? String)
        let moved = try await server.request(.POST, "/api/integrations/connections/\(id)/transitions",
                                             body: #"{"status": "ignored", "reason": \#(reason)}"#)
        #expect(moved.status == 200)

        let table = try await cli("connection", "events", id)
        #expect(table.status == 0, "\(table.errors)")
        for hidden in ["\u{1B}", "\u{07}", "\r", "\u{202E}", "\u{9B}"] {
            #expect(!table.output.contains(hidden), "\(hidden.unicodeScalars.map(\.value)) reached the terminal")
        }
        #expect(table.output.contains(#"\e]0;owned\u{7}\e[2Jcleared\r\nFAKE  registered\u{202E}gnp.exe\u{9B}31m"#),
                "\(table.output)")
        #expect(!table.output.split(separator: "\n").contains { $0.hasPrefix("FAKE") })
        let json = try await cli("connection", "events", id, "-o", "json")
        #expect(json.output.contains(#"\u001b]0;owned"#) || json.output.contains("\u{1B}]0;owned"))
        #expect(await server.stop() == 0)
    }
}
