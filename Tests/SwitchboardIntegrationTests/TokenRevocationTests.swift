import AsyncHTTPClient
import Foundation
import NIOCore
import SwitchboardTestSupport
import Testing

/// `switchboard token revoke` run beside a real server on the same data folder: the server
/// refuses the token from the next request on (it remembered it a moment ago), and a change
/// stream opened with it ends with an `unauthorized` event instead of delivering more.
@Suite(.serialized)
struct TokenRevocationTests {
    @Test func aRevokedTokenIsRefusedAtOnceAndItsStreamEnds() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.file("data")
        let server = try await ServerProcess(dataDirectory: data, logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: nil, token: nil, config: folder.file("cli.yaml"))

        let created = try await cli("token", "create", "--data-dir", data, "--user", "eve", "--role", "member")
        #expect(created.status == 0, "\(created.errors)")
        let token = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let id = try #require(created.errors.split(separator: " ").dropFirst().first.map(String.init), "\(created.errors)")

        func status() async throws -> (UInt, String) {
            var request = HTTPClientRequest(url: "\(server.address)/api/integrations/connections")
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            return (response.status.code, String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }

        // The stream is open and the token is fresh in the server's memory when it is revoked.
        var streamRequest = HTTPClientRequest(url: "\(server.address)/api/events/stream")
        streamRequest.headers.add(name: "Authorization", value: "Bearer \(token)")
        let stream = try await HTTPClient.shared.execute(streamRequest, timeout: .seconds(60))
        #expect(stream.status == .ok)
        #expect(try await status().0 == 200)
        // And `connection watch` follows the same stream in another process.
        let watch = try SwitchboardCLI(server: server.address, token: token, config: folder.file("eve.yaml"))
            .launch(["connection", "watch"])
        defer { if watch.isRunning { watch.terminate() } }
        try await Task.sleep(for: .milliseconds(500))
        let revoked = try await cli("token", "revoke", "--data-dir", data, id)
        #expect(revoked.status == 0, "\(revoked.errors)")
        let after = try await status()
        #expect(after.0 == 401 && after.1.contains("revoked"), "the next request after the revocation: \(after)")

        // The stream ends by itself (the server closes it) with the reason.
        let ended = await readUntilEnd(stream.body, timeout: .seconds(20))
        let text = try #require(ended, "the stream was still open 20 s after its token was revoked")
        #expect(text.contains("event: unauthorized") && text.contains("the token was revoked"), "\(text)")
        // The watch stops with the reason instead of reconnecting for ever.
        try await waitUntil(timeout: .seconds(20), "the watch ends") { !watch.isRunning }
        let watchErrors = String(decoding: (watch.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data(),
                                 as: UTF8.self)
        #expect(watch.terminationStatus == 1 && watchErrors.contains("the token was revoked"), "\(watchErrors)")
        #expect(await server.stop() == 0)
    }
}
