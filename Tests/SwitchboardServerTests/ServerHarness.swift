import AsyncHTTPClient
import Crypto
import ConnectionLifecycle
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SwitchboardEngine
import SwitchboardServer
import StoreContract
import SwitchboardTestSupport
import Testing

/// The real router, engine and SQLite store, driven in-process (or over loopback for
/// concurrency), with a stand-in HTTP target for the checks.
struct ServerHarness: Sendable {
    let client: any TestClientProtocol
    let store: any ConnectionStore
    /// The store's credentials, opened with the server's vault.
    let credentials: SealedCredentials
    let engine: ConnectionEngine
    let target: StandInHTTPServer
    let databasePath: String
    let folder: TemporaryDirectory
    /// An admin's bearer token: `request` sends it unless told otherwise.
    let adminToken: String
    let tokens: TokenService
    /// Keeps peer servers' leases.
    let keeper: LeaseKeeper
    /// Every route the router has (method, path with `{parameters}`).
    let routes: [(method: HTTPRequest.Method, path: String)]

    /// `Authorization` for an admin, or for `token`.
    func authorization(_ token: String? = nil) -> HTTPFields {
        [.authorization: "Bearer \(token ?? adminToken)"]
    }

    /// `hubLease`: run the lease keeper of peer servers, with this lease.
    static func run<T: Sendable>(_ mode: TestingSetup = .router, monitor: HealthPolicy? = nil, autoRegister: Bool = true,
                                 hubLease: Duration? = nil, _ body: @escaping @Sendable (ServerHarness) async throws -> T) async throws -> T {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let httpClient = SwitchboardApp.makeHTTPClient()
        var logger = Logger(label: "server-test")
        logger.logLevel = .warning
        let path = folder.file("switchboard.sqlite")
        let store = try await TestStore.chosen(path)
        let vault = SecretsVault(key: SymmetricKey(size: .bits256))
        // Checks of the local stand-ins answer at once on an idle machine; under a fresh clone's
        // build and 175 tests on two cores a 2 s limit failed a cluster verify, so 10.
        var configuration = ServerConfiguration(dataDirectory: folder.path, checkTimeout: .seconds(10),
                                                monitor: HealthMonitorConfiguration(policy: monitor ?? .standard),
                                                autoRegister: autoRegister)
        configuration.hubLease = hubLease ?? configuration.hubLease
        let parts = SwitchboardApp.assemble(store: store, vault: vault, httpClient: httpClient, configuration: configuration, logger: logger)
        let engine = parts.engine
        let tokens = try #require(parts.tokens)
        let adminToken = try await tokens.issue(for: "test-admin", role: .admin).token
        let router = SwitchboardApp.router(parts)
        let routes = router.routes.map { (method: $0.method, path: "\($0.path)") }
        let app = Application(router: router, logger: logger)
        let monitoring = monitor.map { _ in Task { try await parts.monitor.run() } }
        defer { monitoring?.cancel() }
        let leasing = hubLease.map { _ in Task { try await parts.leases.run() } }
        defer { leasing?.cancel() }
        do {
            let result = try await app.test(mode) { client in
                defer { parts.closeStreams() }  // An open change stream would hold the shutdown up.
                return try await body(ServerHarness(client: client, store: store, credentials: SealedCredentials(store: store, vault: vault), engine: engine, target: target,
                                                    databasePath: path, folder: folder, adminToken: adminToken, tokens: tokens,
                                                    keeper: parts.leases, routes: routes))
            }
            monitoring?.cancel()
            _ = try? await monitoring?.value
            await engine.shutdown()
            try await httpClient.shutdown()
            await target.stop()
            return result
        } catch {
            monitoring?.cancel()
            await engine.shutdown()
            try? await httpClient.shutdown()
            await target.stop()
            throw error
        }
    }

    // MARK: Requests

    @discardableResult
    func request(_ method: HTTPRequest.Method, _ uri: String, json: String? = nil,
                 headers: HTTPFields = [:], token: String? = nil, anonymous: Bool = false) async throws -> TestResponse {
        var headers = headers
        if !anonymous, headers[.authorization] == nil { headers[.authorization] = "Bearer \(token ?? adminToken)" }
        if json != nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: uri, method: method, headers: headers,
                                        body: json.map { ByteBuffer(string: $0) })
    }

    func createConnection(name: String, kind: String = "prometheus", status: String? = nil,
                          url: String? = nil) async throws -> ConnectionJSON {
        struct Body: Encodable {
            var name: String
            var kind: String
            var status: String?
            var url: String
            var metadata: [String: JSONValue]
        }
        // One target per name: an owner cannot have two connections to the same target.
        let target = url ?? "\(self.target.reachableURL)/\(name)"
        let body = Body(name: name, kind: kind, status: status, url: target, metadata: try metadata(kind: kind, url: target))
        let response = try await request(.post, "/api/integrations/connections", json: try encode(body))
        #expect(response.status == .created, "\(String(buffer: response.body))")
        return try decode(ConnectionJSON.self, response)
    }

    /// A connection stored as it would be in `status`; a server (kind `meshery`) with a live
    /// lease, as if its heartbeats arrived, so its checks pass as others' do against `target`.
    func seed(_ kind: String, _ status: ConnectionStatus, url: String? = nil) async throws -> Connection {
        let target = url ?? self.target.reachableURL
        let definition = try #require(KindCatalog.builtIn[kind])
        let connection = try await Seeding.connection(in: store, kind: definition, status: status,
                                                      url: target, metadata: try metadata(kind: kind, url: target))
        if definition.registersItself { keeper.leases.beat(connection.id, at: Date()) }
        return connection
    }

    /// Kubernetes connections reach the stand-in through a kubeconfig; other kinds need nothing.
    func metadata(kind: String, url: String) throws -> [String: JSONValue] {
        kind == "kubernetes" ? try StandInHTTPServer.kubernetesMetadata(for: url, in: folder) : [:]
    }

    func history(_ id: UUID) async throws -> [LifecycleEvent] {
        try await Seeding.history(of: id, in: store)
    }
}

func encode(_ value: some Encodable) throws -> String {
    String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
}

func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(response.body.readableBytesView))
}

/// What a client reads of a connection.
struct ConnectionJSON: Decodable {
    var id: String
    var schemaVersion: String
    var name: String
    var kind: String
    var type: String
    var subType: String
    var status: String
    var url: String?
    var version: Int64
    var deletedAt: String?
    var createdAt: String
    var updatedAt: String
    var transitionMap: [String: [Transition]]

    struct Transition: Decodable {
        var nextState: String
        var description: String?
    }

    var uuid: UUID { UUID(uuidString: id) ?? UUID() }
}

struct PageJSON: Decodable {
    var connections: [ConnectionJSON]
    var totalCount: Int
    var page: Int
    var pageSize: Int
    var statusSummary: [String: Int]
}

struct ProblemJSON: Decodable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var allowed: [String]?
    var connection: ConnectionJSON?
    var field: String?
    var existingConnectionId: String?
}

struct EventJSON: Decodable {
    var sequence: Int64
    var from: String?
    var to: String
    var actor: String
    var actorRole: String
    var reason: String?
    var correlationId: String
    var createdAt: String
}

struct EventPageJSON: Decodable {
    var events: [EventJSON]
    var totalCount: Int
}

/// Asserts `response` is an RFC 9457 problem with `status`, and returns it.
@discardableResult
func expectProblem(_ response: TestResponse, _ status: HTTPResponse.Status, _ comment: String = "",
                   sourceLocation: SourceLocation = #_sourceLocation) throws -> ProblemJSON {
    #expect(response.status == status, "\(comment): \(String(buffer: response.body))", sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/problem+json", "\(comment)", sourceLocation: sourceLocation)
    let problem = try decode(ProblemJSON.self, response)
    #expect(problem.status == Int(status.code), sourceLocation: sourceLocation)
    #expect(problem.type.hasPrefix("/problems/") && !problem.title.isEmpty && !problem.detail.isEmpty,
            sourceLocation: sourceLocation)
    return problem
}
