import ConnectionLifecycle
import Foundation
import HTTPTypes
import HummingbirdTesting
import SwitchboardTestSupport
import Testing

/// The requests Meshery's UI and `mesheryctl` send for connections, environments and
/// credentials, replayed as they write them, with the answers they read. Sources are
/// meshery/meshery's files, named at each request: `ui/rtk-query/connection.ts`,
/// `environments.ts` and `credentials.ts` (through `@meshery/schemas/mesheryApi`), the
/// Prometheus and Grafana settings pages, and `mesheryctl/internal/cli/root/`.
@Suite struct MesheryClientCompatibilityTests {
    /// What Meshery's clients read of a connection.
    struct Connection: Decodable {
        var id: String
        var name: String
        var kind: String
        var status: String
        var url: String?
        var fingerprint: String?
        var metadata: [String: JSONValue]
        var environments: [Environment]
        var health: Health
        var version: Int64
        var transitionMap: [String: [ConnectionJSON.Transition]]?
    }

    /// Meshery's `Environment`: the UI shows `name`, `mesheryctl environment list` prints
    /// `organizationId`.
    struct Environment: Decodable, Equatable {
        var id: String
        var name: String
        var organizationId: String
        var schemaVersion: String
    }

    struct Health: Decodable, Equatable {
        var state: String
        var consecutiveSuccesses: Int
    }

    struct Page: Decodable {
        var connections: [Connection]
        var totalCount: Int
        var pageSize: Int
    }

    struct EnvironmentPage: Decodable {
        var environments: [Environment]
        var totalCount: Int
    }

    struct Credential: Decodable {
        var id: String
        var name: String
        var type: String
        var secretKeys: [String]
    }

    struct CredentialPage: Decodable {
        var credentials: [Credential]
        var totalCount: Int
    }

    static let defaultOrganization = "9b3f0c7e-5d1a-4c2e-8f6b-3a7d2e1c0b9a"

    /// The body Meshery's connection forms send (`ConnectionPayload`): no top-level `url`, the
    /// address in `metadata`, every required member given.
    static func mesheryPayload(name: String, kind: String, type: String, subType: String, status: String,
                               metadata: String) -> String {
        """
        {"name": "\(name)", "kind": "\(kind)", "type": "\(type)", "subType": "\(subType)", "status": "\(status)",
         "metadata": \(metadata), "credentialSecret": {}}
        """
    }

    /// Meshery keeps a connection's address in `metadata.url`. Such a connection is verified
    /// (it asked for `registered`), gets its fingerprint, and posting it again finds the first
    /// instead of making a second: before, three posts made three connections with
    /// `fingerprint: null`, none of them checked.
    @Test func theAddressInMetadataIsVerifiedAndFoundAgain() async throws {
        try await ServerHarness.run { harness in
            let target = "\(harness.target.reachableURL)/prometheus"
            let body = Self.mesheryPayload(name: "prometheus", kind: "prometheus", type: "telemetry", subType: "metrics",
                                           status: "registered", metadata: #"{"url": "\#(target)", "name": "prometheus"}"#)
            let created = try await harness.request(.post, "/api/integrations/connections", json: body)
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let connection = try decode(Connection.self, created)
            #expect(connection.url == target && connection.status == "registered")
            #expect(connection.fingerprint == "prometheus \(target)")
            #expect(connection.metadata["url"] == .string(target), "metadata is kept as given")

            for _ in 1...2 {
                let again = try await harness.request(.post, "/api/integrations/connections", json: body)
                #expect(try expectProblem(again, .conflict).existingConnectionId == connection.id)
            }
            let all = try decode(Page.self, try await harness.request(.get, "/api/integrations/connections?pagesize=all"))
            #expect(all.totalCount == 1)

            // Meshery's own server connections name it `server_location`.
            let grafana = try await harness.request(.post, "/api/integrations/connections", json: Self.mesheryPayload(
                name: "grafana", kind: "grafana", type: "telemetry", subType: "metrics", status: "discovered",
                metadata: #"{"server_location": "\#(harness.target.reachableURL)/grafana/"}"#))
            #expect(try decode(Connection.self, grafana).fingerprint == "grafana \(harness.target.reachableURL)/grafana")

            // A top-level url still wins; a bad address in metadata is refused by its name.
            let bad = try await harness.request(.post, "/api/integrations/connections", json: Self.mesheryPayload(
                name: "bad", kind: "prometheus", type: "telemetry", subType: "metrics", status: "discovered",
                metadata: #"{"url": "not an address"}"#))
            #expect(try expectProblem(bad, .badRequest).field == "metadata.url")
            #expect(try decode(Page.self, try await harness.request(.get, "/api/integrations/connections")).totalCount == 2,
                    "nothing stored")
        }
    }

    /// The UI's `updateConnectionById` sends `PUT {status, metadata}`; a new address in
    /// metadata moves the connection (and its fingerprint) there.
    @Test func aStatusUpdateAsTheUISendsIt() async throws {
        try await ServerHarness.run { harness in
            let created = try decode(Connection.self, try await harness.request(
                .post, "/api/integrations/connections", json: Self.mesheryPayload(
                    name: "prom", kind: "prometheus", type: "telemetry", subType: "metrics", status: "discovered",
                    metadata: #"{"url": "\#(harness.target.reachableURL)/one"}"#)))
            let moved = try await harness.request(.put, "/api/integrations/connections/\(created.id)", json: """
                {"status": "registered", "metadata": {"url": "\(harness.target.reachableURL)/two"}}
                """)
            #expect(moved.status == .ok, "\(String(buffer: moved.body))")
            let answer = try decode(Connection.self, moved)
            #expect(answer.status == "registered" && answer.url == "\(harness.target.reachableURL)/two")
            #expect(answer.fingerprint == "prometheus \(harness.target.reachableURL)/two")
        }
    }

    /// Answers to create, `PUT`, transitions and bulk transitions show the health and
    /// environments `GET` shows (they answered `unknown` and `[]`).
    @Test func everyAnswerShowsWhatGetShows() async throws {
        try await ServerHarness.run { harness in
            let created = try await harness.createConnection(name: "watched")
            let environment = try decode(Environment.self, try await harness.request(
                .post, "/api/environments", json: #"{"name": "production", "organizationId": "\#(UUID())", "connections": ["\#(created.id)"]}"#))
            try await harness.store.saveHealth([HealthRecord(connectionId: created.uuid, state: .reachable, checkedAt: Date(),
                                                             latencyMilliseconds: 3, consecutiveSuccesses: 4)])
            let get = { try decode(Connection.self, try await harness.request(.get, "/api/integrations/connections/\(created.id)")) }
            let shown = try await get()
            #expect(shown.health == Health(state: "reachable", consecutiveSuccesses: 4))
            #expect(shown.environments == [environment])

            let put = try decode(Connection.self, try await harness.request(
                .put, "/api/integrations/connections/\(created.id)", json: #"{"description": "edited"}"#))
            let moved = try decode(Connection.self, try await harness.request(
                .post, "/api/integrations/connections/\(created.id)/transitions", json: #"{"status": "registered"}"#))
            struct Bulk: Decodable { var results: [Result]; struct Result: Decodable { var connection: Connection? } }
            let bulk = try decode(Bulk.self, try await harness.request(
                .post, "/api/integrations/connections/transitions", json: #"{"ids": ["\#(created.id)"], "status": "maintenance"}"#))
            for (name, answer) in [("PUT", put), ("transition", moved), ("bulk", bulk.results.first?.connection)] {
                #expect(answer?.health == shown.health, "\(name)")
                #expect(answer?.environments == [environment], "\(name)")
            }
            #expect(try await get().version == bulk.results.first?.connection?.version)
        }
    }

    /// The environments page and `mesheryctl environment`: create with an organization, list
    /// with `orgId` and `pagesize`, add (201) and remove (204) connections, and read each
    /// connection's environments by name.
    @Test func environmentsAsTheUIAndMesheryctlUseThem() async throws {
        try await ServerHarness.run { harness in
            let connection = try await harness.createConnection(name: "member")
            // `mesheryctl environment create --orgID --name --description`; the UI's form the same.
            let created = try await harness.request(.post, "/api/environments", json: """
                {"name": "staging", "description": "pre-production", "organizationId": "\(UUID())"}
                """)
            #expect(created.status == .created)
            let staging = try decode(Environment.self, created)
            #expect(staging.organizationId == Self.defaultOrganization)
            #expect(staging.schemaVersion == "environments.meshery.io/v1beta3")

            // `mesheryctl environment list --orgId X --pagesize 10`; the UI adds empty search and order.
            for query in ["orgId=\(UUID())&page=0&pagesize=10", "search=&order=&page=0&pagesize=10&orgId=\(UUID())"] {
                let listed = try decode(EnvironmentPage.self, try await harness.request(.get, "/api/environments?\(query)"))
                #expect(listed.environments == [staging], "\(query)")
            }

            let added = try await harness.request(.post, "/api/environments/\(staging.id)/connections/\(connection.id)")
            #expect(added.status == .created, "\(String(buffer: added.body))")
            let page = try decode(Page.self, try await harness.request(.get, "/api/integrations/connections?page=0&pagesize=10"))
            #expect(page.connections.first?.environments.map(\.name) == ["staging"])
            let members = try decode(Page.self, try await harness.request(
                .get, "/api/environments/\(staging.id)/connections?search=&order=&page=0&pagesize=10&filter="))
            #expect(members.connections.map(\.id) == [connection.id])

            let removed = try await harness.request(.delete, "/api/environments/\(staging.id)/connections/\(connection.id)")
            #expect(removed.status == .noContent && removed.body.readableBytes == 0)
            let after = try decode(Connection.self, try await harness.request(.get, "/api/integrations/connections/\(connection.id)"))
            #expect(after.environments.isEmpty)
        }
    }

    /// The credentials page (`ui/rtk-query/credentials.ts`): secrets with numbers and booleans,
    /// update with the id in the body, delete with `?credential_id=`.
    @Test func credentialsAsTheUISendsThem() async throws {
        try await ServerHarness.run { harness in
            let created = try await harness.request(.post, "/api/integrations/credentials", json: """
                {"name": "grafana key", "type": "grafana", "secret": {"apiKey": "glsa_x", "port": 3000, "insecure": true, "ratio": 0.5}}
                """)
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let credential = try decode(Credential.self, created)
            #expect(credential.secretKeys == ["apiKey", "insecure", "port", "ratio"])
            let stored = try await harness.credentials.credential(id: try #require(UUID(uuidString: credential.id)))
            #expect(stored?.secret == ["apiKey": "glsa_x", "port": "3000", "insecure": "true", "ratio": "0.5"])

            let updated = try await harness.request(.put, "/api/integrations/credentials", json: """
                {"id": "\(credential.id)", "name": "grafana key", "type": "grafana", "secret": {"apiKey": "glsa_y", "port": 3001}}
                """)
            #expect(updated.status == .ok, "\(String(buffer: updated.body))")

            // What no secret value is: refused, and nothing changes.
            for value in ["null", "[1]", #"{"nested": "x"}"#] {
                let refused = try await harness.request(.post, "/api/integrations/credentials",
                                                        json: #"{"name": "bad", "type": "token", "secret": {"token": \#(value)}}"#)
                #expect(try expectProblem(refused, .badRequest, value).field == "secret.token")
            }
            let listed = try decode(CredentialPage.self, try await harness.request(.get, "/api/integrations/credentials"))
            #expect(listed.totalCount == 1)

            // A connection's own secret may hold them too.
            let connection = try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "with secret", "kind": "prometheus", "url": "\(harness.target.reachableURL)/s",
                 "credentialSecret": {"token": "t", "timeoutSeconds": 5}}
                """)
            #expect(connection.status == .created, "\(String(buffer: connection.body))")

            let deleted = try await harness.request(.delete, "/api/integrations/credentials?credential_id=\(credential.id)")
            #expect(deleted.status == .noContent, "\(String(buffer: deleted.body))")
        }
    }

    /// The Prometheus and Grafana settings pages look for a configured connection with
    /// `page=0&pagesize=1&status=["connected"]&kind=["grafana"]` and read its `metadata.url`;
    /// `mesheryctl connection list` asks for `pagesize=all`.
    @Test func theSettingsPagesFindTheirConnection() async throws {
        try await ServerHarness.run { harness in
            let grafana = try await harness.request(.post, "/api/integrations/connections", json: Self.mesheryPayload(
                name: "grafana", kind: "grafana", type: "telemetry", subType: "metrics", status: "connected",
                metadata: #"{"url": "\#(harness.target.reachableURL)/g"}"#))
            #expect(grafana.status == .created, "\(String(buffer: grafana.body))")
            _ = try await harness.createConnection(name: "other")

            let found = try decode(Page.self, try await harness.request(
                .get, "/api/integrations/connections?page=0&pagesize=1&status=%5B%22connected%22%5D&kind=%5B%22grafana%22%5D"))
            #expect(found.totalCount == 1 && found.connections.first?.metadata["url"] == .string("\(harness.target.reachableURL)/g"))
            let both = try decode(Page.self, try await harness.request(
                .get, "/api/integrations/connections?page=0&pagesize=2&status=%5B%22connected%22%2C%22registered%22%5D&kind=%5B%22prometheus%22%2C%22grafana%22%5D"))
            #expect(both.connections.map(\.name) == ["grafana"])
            let all = try decode(Page.self, try await harness.request(.get, "/api/integrations/connections?pagesize=all"))
            #expect(all.totalCount == 2 && all.pageSize == 100)
        }
    }

    /// Meshery's clients get the full shape; `omit=transitionMap` leaves the map out of each
    /// listed connection, and nothing else.
    @Test func listsCanLeaveTheTransitionMapOut() async throws {
        try await ServerHarness.run { harness in
            let connection = try await harness.createConnection(name: "light")
            let environment = try decode(Environment.self, try await harness.request(
                .post, "/api/environments", json: #"{"name": "e", "connections": ["\#(connection.id)"]}"#))
            let full = try await harness.request(.get, "/api/integrations/connections")
            #expect(try decode(Page.self, full).connections.first?.transitionMap?["discovered"] != nil)
            for uri in ["/api/integrations/connections?omit=transitionMap", "/api/environments/\(environment.id)/connections?omit=transitionMap"] {
                let light = try await harness.request(.get, uri)
                #expect(light.status == .ok, "\(uri)")
                let page = try decode(Page.self, light)
                #expect(page.connections.count == 1 && page.connections.first?.transitionMap == nil, "\(uri)")
                #expect(page.connections.first?.environments.map(\.name) == ["e"], "\(uri)")
                #expect(light.body.readableBytes + 1_500 < full.body.readableBytes, "\(uri)")
            }
            let refused = try await harness.request(.get, "/api/integrations/connections?omit=metadata")
            #expect(try expectProblem(refused, .badRequest).field == "omit")
        }
    }
}
