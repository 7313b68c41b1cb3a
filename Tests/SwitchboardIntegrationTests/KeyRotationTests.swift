import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardTestSupport
import Testing

/// `switchboard secrets rotate-key` against a running server whose connections keep probing
/// a Kubernetes API server stand-in (no real one exists on these machines) with tokens from
/// stored credentials.
@Suite(.serialized)
struct KeyRotationTests {
    /// The server's admin token (the suite runs one test at a time).
    nonisolated(unsafe) static var token = ""
    struct Health: Decodable { var state: String; var checkedAt: String? }
    struct Item: Decodable { var id: String; var name: String; var status: String; var health: Health }
    struct Page: Decodable { var connections: [Item] }
    struct Credentials: Decodable { var credentials: [Credential]; struct Credential: Decodable { var keyId: String } }
    struct Ping: Decodable { var reachable: Bool }

    static func call(_ client: HTTPClient, _ method: HTTPMethod, _ url: String, body: ByteBuffer? = nil,
                     contentType: String = "application/json") async throws -> (UInt, Data) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(body)
        }
        let response = try await client.execute(request, timeout: .seconds(20))
        return (response.status.code, Data(try await response.body.collect(upTo: 4 << 20).readableBytesView))
    }

    static func rotate(_ dataDirectory: String, _ extra: [String] = []) throws -> String {
        let run = try Program.run(try ServerProcess.binaryPath(), ["secrets", "rotate-key", "--data-dir", dataDirectory] + extra)
        #expect(run.status == 0, "\(run.text)")
        return run.text
    }

    @Test func rotatingTheKeyWhileConnectionsProbeKeepsThemAuthenticated() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let tokens = (1...4).map { "rotation-token-\($0)-\(UUID().uuidString)" }
        let cluster = try await KubernetesStandIn.start(in: folder, tokens: Set(tokens))
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let data = folder.file("data")
        let server = try await ServerProcess(
            dataDirectory: data, logPath: folder.file("server.log"),
            arguments: ["--probe-interval", "0.3", "--probe-registered-interval", "0.3", "--log-level", "trace"])
        Self.token = server.adminToken

        // Four users of one cluster, each its own connection and credential; and one
        // credential made through the API with a secret we know.
        let ca = try cluster.pki.base64(cluster.pki.caCertificate)
        let kubeconfig = """
            clusters: [{name: c, cluster: {server: "\(cluster.tokenServerURL)", certificate-authority-data: \(ca)}}]
            users: [\(tokens.enumerated().map { "{name: user-\($0.offset), user: {token: \($0.element)}}" }.joined(separator: ", "))]
            contexts: [\(tokens.indices.map { "{name: ctx-\($0), context: {cluster: c, user: user-\($0)}}" }.joined(separator: ", "))]
            """
        let boundary = "rotation-boundary"
        let form = "--\(boundary)\r\nContent-Disposition: form-data; name=\"k8sfile\"; filename=\"config\"\r\n\r\n\(kubeconfig)\r\n"
            + "--\(boundary)\r\nContent-Disposition: form-data; name=\"connectReachable\"\r\n\r\ntrue\r\n--\(boundary)--\r\n"
        let (imported, importBody) = try await Self.call(client, .POST, "\(server.address)/api/system/kubernetes",
                                                         body: ByteBuffer(string: form),
                                                         contentType: "multipart/form-data; boundary=\(boundary)")
        #expect(imported == 200, "\(String(decoding: importBody, as: UTF8.self))")
        let known = "known-secret-\(UUID().uuidString)"
        let (created, _) = try await Self.call(client, .POST, "\(server.address)/api/integrations/credentials", body: ByteBuffer(
            string: #"{"name": "known", "type": "token", "secret": {"token": "\#(known)"}}"#))
        #expect(created == 201)

        func connections() async throws -> [Item] {
            try JSONDecoder().decode(Page.self, from: try await Self.call(
                client, .GET, "\(server.address)/api/integrations/connections?pageSize=100").1).connections
        }
        try await waitUntil(timeout: .seconds(30)) {
            let all = try await connections()
            return all.count == 4 && all.allSatisfy { $0.status == "connected" && $0.health.state == "reachable" }
        }

        let output = try Self.rotate(data)
        #expect(output.contains("re-sealed 5 credentials"), "\(output)")
        let keyLines = try String(contentsOfFile: "\(data)/secrets.key", encoding: .utf8).split(separator: "\n")
        #expect(keyLines.count == 2)

        // Probes go on with the re-sealed credentials: fresh checks, all reachable.
        let rotatedAt = Date()
        try await waitUntil(timeout: .seconds(20)) {
            try await connections().allSatisfy { item in
                guard item.status == "connected", item.health.state == "reachable", let checked = item.health.checkedAt,
                      let date = try? Date(checked, strategy: .iso8601) else { return false }
                return date > rotatedAt.addingTimeInterval(0.5)
            }
        }
        let keyIds = try JSONDecoder().decode(Credentials.self, from: try await Self.call(
            client, .GET, "\(server.address)/api/integrations/credentials?pageSize=100").1).credentials.map(\.keyId)
        #expect(keyIds.count == 5 && Set(keyIds).count == 1, "\(keyIds)")

        // Once everything is under the new key, the old one can go; still nothing breaks.
        _ = try Self.rotate(data, ["--retire-old-keys"])
        #expect(try String(contentsOfFile: "\(data)/secrets.key", encoding: .utf8).split(separator: "\n").count == 1)
        for item in try await connections() {
            let answer = try await Self.call(client, .POST, "\(server.address)/api/integrations/connections/\(item.id)/ping").1
            let ping = try JSONDecoder().decode(Ping.self, from: answer)
            #expect(ping.reachable, "\(item.name) no longer authenticates: \(String(decoding: answer, as: UTF8.self))")
        }

        // No secret is anywhere in plain text: not the database, not the log.
        #expect(await server.stop() == 0)
        for file in [folder.file("server.log"), "\(data)/switchboard.sqlite", "\(data)/switchboard.sqlite-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
            for secret in tokens + [known] {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(file) holds \(secret)")
            }
        }
        try await client.shutdown()
        await cluster.stop()
    }
}
