import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SwitchboardServer
import StoreContract
import SwitchboardTestSupport
import Testing

/// `GET /api/system/server`: this server's id, release and address, for signed-in callers.
@Suite struct ServerIdentityAPITests {
    struct Description: Decodable, Equatable {
        var id: String
        var version: String
        var build: String
        var advertiseUrl: String
    }

    /// One start of a server on the database at `path`: answers what a member and an
    /// anonymous caller get.
    func start(_ path: String, folder: TemporaryDirectory, advertiseURL: String?) async throws -> (Description, [String]) {
        let store = try TestStore.sqlite(path)
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        var logger = Logger(label: "server-test")
        logger.logLevel = .warning
        let parts = SwitchboardApp.assemble(
            store: store, vault: nil, httpClient: httpClient,
            configuration: ServerConfiguration(dataDirectory: folder.path, advertiseURL: advertiseURL), logger: logger)
        let token = try await #require(parts.tokens).issue(for: "reader", role: .member).token
        let app = Application(router: SwitchboardApp.router(parts), logger: logger)
        let answer = try await app.test(.router) { client in
            let anonymous = try await client.execute(uri: "/api/system/server", method: .get)
            let problem = try expectProblem(anonymous, .unauthorized, "without a token")
            #expect(problem.type == "/problems/unauthorized")
            let signedIn = try await client.execute(uri: "/api/system/server", method: .get,
                                                    headers: [.authorization: "Bearer \(token)"])
            #expect(signedIn.status == .ok, "\(String(buffer: signedIn.body))")
            let body = Data(signedIn.body.readableBytesView)
            let keys = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any]).keys.sorted()
            return (try JSONDecoder().decode(Description.self, from: body), keys)
        }
        try await httpClient.shutdown()
        try await store.close()
        return answer
    }

    @Test func theSameIdAcrossStartsForSignedInCallersOnly() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("switchboard.sqlite")
        let (first, keys) = try await start(path, folder: folder, advertiseURL: "https://switchboard.example.com:9443")
        #expect(keys == ["advertiseUrl", "build", "id", "version"], "nothing more (no secrets)")
        #expect(UUID(uuidString: first.id) != nil && first.id == first.id.lowercased())
        #expect(first.version == SwitchboardRelease.version && first.version == "0.1.0")
        #expect(first.build == SwitchboardRelease.build)
        #expect(first.advertiseUrl == "https://switchboard.example.com:9443")

        let (second, _) = try await start(path, folder: folder, advertiseURL: nil)
        #expect(second.id == first.id, "the id changed between two starts on the same database")
        // No listener in-process: the configured host and port.
        #expect(second.advertiseUrl == "http://127.0.0.1:9081")

        let other = try await start(folder.file("other.sqlite"), folder: folder, advertiseURL: nil).0
        #expect(other.id != first.id, "two databases share an id")
    }
}
