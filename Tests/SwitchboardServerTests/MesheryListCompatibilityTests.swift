import ConnectionLifecycle
import Foundation
import HTTPTypes
import HummingbirdTesting
import SwitchboardTestSupport
import Testing

/// The list requests Meshery's own clients send, replayed byte for byte, with the answers they
/// expect. Sources are meshery/meshery's files, named at each request.
@Suite struct MesheryListCompatibilityTests {
    /// What every list answers besides its items.
    struct SizedPage: Decodable {
        var totalCount: Int
        var page: Int
        var pageSize: Int
    }

    /// Six connections, one of each kind the tests filter on; `f-graf` is a tombstone.
    static func seed(_ harness: ServerHarness) async throws -> [Connection] {
        var seeded: [Connection] = []
        for (name, kind, status) in [("a-prom", "prometheus", ConnectionStatus.connected), ("b-prom", "prometheus", .registered),
                                     ("c-k8s", "kubernetes", .connected), ("d-helm", "helm", .notFound),
                                     ("e-http", "http", .connected), ("f-graf", "grafana", .deleted)] {
            seeded.append(try await Seeding.connection(in: harness.store, kind: try #require(KindCatalog.builtIn[kind]),
                                                       status: status, name: name, url: "http://\(name).example"))
            // Distinct creation times, so ordering by them is not ordering by id.
            try await Task.sleep(for: .milliseconds(3))
        }
        return seeded
    }

    static func page(_ harness: ServerHarness, _ query: String,
                     sourceLocation: SourceLocation = #_sourceLocation) async throws -> PageJSON {
        let response = try await harness.request(.get, "/api/integrations/connections?\(query)")
        #expect(response.status == .ok, "\(query): \(String(buffer: response.body))", sourceLocation: sourceLocation)
        return try decode(PageJSON.self, response)
    }

    /// The connection table's first request: `ui/components/connections/ConnectionTable.tsx`
    /// calls `useGetConnectionsQuery({page, pagesize, search, order: 'created_at desc', status:
    /// '', kind: ''})` (`ui/rtk-query/connection.ts`), which `URLSearchParams` writes so.
    /// Meshery's server reads the empty `status=` and `kind=` as no filter; this one answered 400.
    @Test func theConnectionTablesDefaultRequest() async throws {
        try await ServerHarness.run { harness in
            _ = try await Self.seed(harness)
            let page = try await Self.page(harness, "page=0&pagesize=10&search=&order=created_at+desc&status=&kind=")
            #expect(page.connections.map(\.name) == ["e-http", "d-helm", "c-k8s", "b-prom", "a-prom"], "newest first, no tombstone")
            #expect(page.totalCount == 5 && page.page == 0 && page.pageSize == 10)
            #expect(page.statusSummary == ["connected": 3, "registered": 1, "not found": 1])

            // Every other empty parameter the issue names is no filter either.
            let empties = try await Self.page(harness, "status=&kind=&type=&search=&order=&environment=&name=")
            #expect(empties.totalCount == 5)
        }
    }

    /// The table's filters: `ConnectionTable.tsx` sends `status: JSON.stringify([statusFilter])`
    /// and `kind: JSON.stringify([kindFilter])`, and Meshery's `GetConnections`
    /// (`server/handlers/connections_handlers.go`) reads both with `json.Unmarshal`. `kind=["http"]`
    /// matched nothing here (it was taken as a kind named `["http"]`).
    @Test func jsonArrayFiltersWorkLikeRepeatedParameters() async throws {
        try await ServerHarness.run { harness in
            _ = try await Self.seed(harness)
            let connected = try await Self.page(
                harness, "page=0&pagesize=10&search=&order=created_at+desc&status=%5B%22connected%22%5D&kind=")
            #expect(Set(connected.connections.map(\.name)) == ["a-prom", "c-k8s", "e-http"])
            #expect(connected.statusSummary == ["connected": 3])

            let http = try await Self.page(harness, "page=0&pagesize=10&search=&order=created_at+desc&status=&kind=%5B%22http%22%5D")
            #expect(http.connections.map(\.name) == ["e-http"])

            let prometheus = try await Self.page(harness, "status=&kind=%5B%22prometheus%22%5D")
            #expect(Set(prometheus.connections.map(\.name)) == ["a-prom", "b-prom"])

            // Several values, as the issue writes them; `URLSearchParams` writes a space as `+`.
            let two = try await Self.page(harness, "status=%5B%22registered%22%2C%22connected%22%5D")
            #expect(two.totalCount == 4)
            #expect(try await Self.page(harness, "status=%5B%22not+found%22%5D").connections.map(\.name) == ["d-helm"])
            #expect(try await Self.page(harness, "status=%5B%22deleted%22%5D").connections.map(\.name) == ["f-graf"])
            #expect(try await Self.page(harness, "status=%5B%5D&kind=%5B%5D").totalCount == 5, "an empty array is no filter")
            #expect(try await Self.page(harness, "type=%5B%22telemetry%22%5D").totalCount == 2)
            // The forms mix: any value of any of them matches.
            #expect(try await Self.page(harness, "kind=%5B%22http%22%5D&kind=helm,kubernetes").totalCount == 3)

            // A malformed array is a 400 that names the parameter, not an empty page.
            for (query, field) in [("status=%5B%22connected%22", "status"), ("kind=%5Bhttp%5D", "kind"),
                                   ("status=%5B%22up%22%5D", "status"), ("type=%5B1%5D", "type")] {
                let problem = try expectProblem(try await harness.request(.get, "/api/integrations/connections?\(query)"),
                                                .badRequest, query)
                #expect(problem.field == field, "\(query): \(problem.detail)")
            }
        }
    }

    /// `mesheryctl connection list` asks for `?pagesize=all` and, with `--page`, for `?page=N`
    /// (`mesheryctl/internal/cli/root/connections/list.go`). Meshery's `GetConnections` takes
    /// `all` and sizes above 100 as 100 and sizes below 1 as 10; the answer says what was used.
    @Test func pageSizesAsMesherysServerReadsThem() async throws {
        try await ServerHarness.run { harness in
            _ = try await Self.seed(harness)
            let all = try await Self.page(harness, "pagesize=all")
            #expect(all.pageSize == 100 && all.connections.count == 5)
            let second = try await Self.page(harness, "page=1")
            #expect(second.page == 1 && second.pageSize == 10 && second.connections.isEmpty && second.totalCount == 5)

            for (query, used) in [("pagesize=500", 100), ("pagesize=0", 10), ("pagesize=-3", 10), ("pagesize=2", 2),
                                  ("pageSize=101", 100), ("pageSize=0", 10), ("pageSize=", 10), ("pagesize=", 10),
                                  ("pagesize=99999999999999999999999", 100), ("pageSize=all", 100),
                                  ("pageSize=3&pagesize=50", 3), ("pagesize=50&pageSize=3", 3), ("pageSize=&pagesize=3", 3),
                                  ("pagesize=50&pageSize=0", 10)] {
                let page = try await Self.page(harness, query)
                #expect(page.pageSize == used, "\(query)")
                #expect(page.connections.count == min(used, 5), "\(query)")
            }
        }
    }

    /// The same sizes on every other list: credentials, environments (the UI sends `pagesize`,
    /// `ui/rtk-query/environments.ts`), an environment's connections and a connection's events.
    @Test func everyListTakesMesherysPageSizes() async throws {
        try await ServerHarness.run { harness in
            let seeded = try await Self.seed(harness)
            let environment = try decode(EnvironmentAPITests.EnvironmentJSON.self, try await harness.request(
                .post, "/api/environments", json: #"{"name": "prod", "connections": ["\#(seeded[0].id.lowercasedString)"]}"#)).id
            let lists = ["/api/integrations/credentials", "/api/environments", "/api/environments/\(environment)/connections",
                         "/api/integrations/connections/\(seeded[0].id.lowercasedString)/events"]
            for list in lists {
                let defaultSize = list.hasSuffix("/events") ? 25 : 10
                for (query, used) in [("pagesize=all", 100), ("pagesize=1000", 100), ("pagesize=0", defaultSize),
                                      ("pageSize=7&pagesize=all", 7), ("pageSize=-1", defaultSize)] {
                    let response = try await harness.request(.get, "\(list)?\(query)")
                    #expect(response.status == .ok, "\(list)?\(query): \(String(buffer: response.body))")
                    #expect(try decode(SizedPage.self, response).pageSize == used, "\(list)?\(query)")
                }
            }
            // As the environments page builds its request (`ui/rtk-query/environments.ts`): empty
            // search and order, Meshery's organization.
            let environments = try await harness.request(
                .get, "/api/environments?search=&order=&page=0&pagesize=10&orgId=\(UUID().uuidString.lowercased())")
            #expect(environments.status == .ok, "\(String(buffer: environments.body))")
            #expect(try decode(SizedPage.self, environments).totalCount == 1)
            let members = try await harness.request(
                .get, "/api/environments/\(environment)/connections?search=&order=&page=0&pagesize=10")
            #expect(try decode(PageJSON.self, members).connections.map(\.name) == ["a-prom"])
        }
    }

    /// Meshery's schema allows `search` up to 500 characters
    /// (`schemas/constructs/v1beta3/connection/api.yml`, parameter `search`); one more is a 400.
    @Test func searchTakesFiveHundredCharacters() async throws {
        try await ServerHarness.run { harness in
            let environment = try decode(EnvironmentAPITests.EnvironmentJSON.self, try await harness.request(
                .post, "/api/environments", json: #"{"name": "prod"}"#)).id
            let lists = ["/api/integrations/connections", "/api/integrations/credentials", "/api/environments",
                         "/api/environments/\(environment)/connections"]
            // 500 characters of two bytes each, as JSON Schema's maxLength counts them.
            let fiveHundred = String(repeating: "%C3%A9", count: 500)
            for list in lists {
                let longest = try await harness.request(.get, "\(list)?search=\(fiveHundred)")
                #expect(longest.status == .ok, "\(list): \(String(buffer: longest.body))")
                let problem = try expectProblem(try await harness.request(.get, "\(list)?search=\(String(repeating: "s", count: 501))"),
                                                .badRequest, list)
                #expect(problem.field == "search" && problem.detail.contains("500"))
            }
        }
    }

    /// Each sortable column of Meshery UI's connection table
    /// (`ui/components/connections/ConnectionTable.columns.tsx`: name, kind, type, sub_type,
    /// updated_at, created_at, ConnectionID, status), sent as `ConnectionTable.options.tsx`
    /// writes it (`` `${column.name} asc|desc` ``), sorts by that column; `ConnectionID` by id.
    @Test func everySortKeyOfMesherysConnectionTable() async throws {
        try await ServerHarness.run { harness in
            _ = try await Self.seed(harness)
            let columns: [(String, (ConnectionJSON) -> String)] = [
                ("name", \.name), ("kind", \.kind), ("type", \.type), ("sub_type", \.subType), ("updated_at", \.updatedAt),
                ("created_at", \.createdAt), ("ConnectionID", \.id), ("status", \.status),
            ]
            for (column, key) in columns {
                for direction in ["asc", "desc"] {
                    let page = try await Self.page(harness, "page=0&pagesize=10&search=&order=\(column)+\(direction)&status=&kind=")
                    // Ties are broken by id in the same direction.
                    let keys = page.connections.map { (key($0), $0.id) }
                    let ordered = zip(keys, keys.dropFirst()).allSatisfy { direction == "asc" ? $0 <= $1 : $0 >= $1 }
                    #expect(ordered && keys.count == 5, "\(column) \(direction): \(keys)")
                }
            }
            // Any case, camelCase or snake_case alike.
            let byId = try await Self.page(harness, "order=connection_id+DESC").connections.map(\.id)
            #expect(byId == byId.sorted(by: >))
            for order in ["CREATED_AT+desc", "createdat+DESC", "createdAt+desc", "Created_At+Desc"] {
                #expect(try await Self.page(harness, "order=\(order)").connections.map(\.name)
                            == ["e-http", "d-helm", "c-k8s", "b-prom", "a-prom"], "\(order)")
            }
            let unknown = try expectProblem(try await harness.request(.get, "/api/integrations/connections?order=Actions+asc"),
                                            .badRequest)
            #expect(unknown.field == "order" && unknown.detail.contains("snake_case"), "\(unknown.detail)")
        }
    }
}
