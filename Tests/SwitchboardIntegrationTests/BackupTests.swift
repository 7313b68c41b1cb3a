import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardTestSupport
import Testing

/// `switchboard backup` while the real server runs and writes, then a restore: a new server
/// on a folder made of the copy and the secrets key sees the data and can use the credentials.
@Suite(.serialized)
struct BackupTests {
    struct Item: Decodable { var id: String; var name: String; var credentialId: String? }
    struct Page: Decodable { var connections: [Item]; var totalCount: Int }
    struct Ping: Decodable { var reachable: Bool }

    static func connections(_ server: ServerProcess) async throws -> Page {
        try JSONDecoder().decode(Page.self, from: try await server.request(
            .GET, "/api/integrations/connections?pageSize=100").body)
    }

    @Test func aBackupTakenWhileTheServerWritesRestoresWithItsCredentials() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let token = "backup-token-\(UUID().uuidString)"
        let cluster = try await KubernetesStandIn.start(in: folder, tokens: [token])
        let data = folder.file("data")
        let server = try await ServerProcess(dataDirectory: data, logPath: folder.file("server.log"))

        // A cluster whose token is only in an encrypted credential.
        let ca = try cluster.pki.base64(cluster.pki.caCertificate)
        let kubeconfig = """
            clusters: [{name: c, cluster: {server: "\(cluster.tokenServerURL)", certificate-authority-data: \(ca)}}]
            users: [{name: u, user: {token: \(token)}}]
            contexts: [{name: lab, context: {cluster: c, user: u}}]
            """
        let imported = try await uploadKubeconfig(kubeconfig, to: server.address, token: server.adminToken,
                                                  client: .shared, timeout: .seconds(30))
        #expect(imported.status == 200, "\(String(decoding: imported.body, as: UTF8.self))")

        // Writes go on during the backup: one new connection after another.
        let writer = Task { () throws -> Int in
            var made = 0
            while !Task.isCancelled, made < 2_000 {
                let answer: (status: UInt, body: Data)
                do {
                    answer = try await server.request(.POST, "/api/integrations/connections", body: """
                        {"name": "busy-\(made)", "kind": "http", "url": "http://127.0.0.1:9/busy-\(made)"}
                        """)
                } catch where Task.isCancelled {
                    break
                }
                guard answer.status == 201 else { throw ServerProcessError("create answered \(answer.status)") }
                made += 1
            }
            return made
        }
        try await waitUntil(timeout: .seconds(30)) { try await Self.connections(server).totalCount >= 20 }
        let backupFile = folder.file("backups/switchboard-backup.sqlite")
        try FileManager.default.createDirectory(atPath: folder.file("backups"), withIntermediateDirectories: true)
        let backup = try await Program.runWaiting(try ServerProcess.binaryPath(), ["backup", "--data-dir", data, "--to", backupFile])
        #expect(backup.status == 0, "\(backup.text)")
        #expect(backup.text.contains("secrets key is not in the backup"), "\(backup.text)")
        try await waitUntil(timeout: .seconds(30)) { try await Self.connections(server).totalCount >= 40 }
        writer.cancel()
        let written = try await writer.value
        // The copy caught the writes mid-way: some before it, more after it.
        let copied = backup.text.firstMatch(of: /, (\d+) connections/).flatMap { Int($0.1) } ?? 0
        #expect(copied > 20 && copied < written + 1, "copied \(copied) of \(written) + 1 connections")
        let mode = try FileManager.default.attributesOfItem(atPath: backupFile)[.posixPermissions] as? Int
        #expect(mode == 0o600, "mode \(String(mode ?? 0, radix: 8))")
        // A second backup to the same file is refused rather than overwriting it.
        let again = try await Program.runWaiting(try ServerProcess.binaryPath(), ["backup", "--data", data, "--to", backupFile])
        #expect(again.status == 1 && again.text.contains("already exists"), "\(again.text)")
        #expect(await server.stop() == 0)

        // Restore: a new folder with the copy as its database and the old key.
        let restored = folder.file("restored")
        try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.copyItem(atPath: backupFile, toPath: "\(restored)/switchboard.sqlite")
        try FileManager.default.copyItem(atPath: "\(data)/secrets.key", toPath: "\(restored)/secrets.key")
        let second = try await ServerProcess(dataDirectory: restored, logPath: folder.file("restored.log"))
        // No new admin token: the users and tokens came with the copy, so the old one works.
        #expect(second.adminToken.isEmpty)
        let oldAdmin = ServerProcessAsAdmin(address: second.address, token: server.adminToken)
        let page = try JSONDecoder().decode(Page.self, from: try await oldAdmin.get("/api/integrations/connections?pageSize=100&search=lab"))
        let lab = try #require(page.connections.first { $0.name == "lab" })
        #expect(lab.credentialId != nil)
        let total = try JSONDecoder().decode(Page.self, from: try await oldAdmin.get("/api/integrations/connections?pageSize=1")).totalCount
        #expect(total == copied, "the restored server has \(total) connections, the copy \(copied)")
        // The credential decrypts with the kept key: the cluster answers to its token.
        let ping = try JSONDecoder().decode(Ping.self, from: try await oldAdmin.post("/api/integrations/connections/\(lab.id)/ping"))
        #expect(ping.reachable)
        #expect(await second.stop() == 0)
        await cluster.stop()
    }

    @Test func aBackupNeedsADatabase() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let run = try await Program.runWaiting(try ServerProcess.binaryPath(), ["backup", "--data-dir", folder.file("none"), "--to", folder.file("b.sqlite")])
        #expect(run.status == 1)
        #expect(run.text.contains("no database at"), "\(run.text)")
    }
}

/// Requests with a token the server did not print (one carried over in a restored database).
struct ServerProcessAsAdmin {
    var address: String
    var token: String

    func get(_ path: String) async throws -> Data { try await send(.GET, path) }
    func post(_ path: String) async throws -> Data { try await send(.POST, path) }

    private func send(_ method: HTTPMethod, _ path: String) async throws -> Data {
        var request = HTTPClientRequest(url: address + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = Data(try await response.body.collect(upTo: 8 << 20).readableBytesView)
        guard response.status.code < 300 else {
            throw ServerProcessError("\(method) \(path) answered \(response.status.code): \(String(decoding: body, as: UTF8.self))")
        }
        return body
    }
}
