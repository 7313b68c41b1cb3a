import ConnectionLifecycle
import Foundation
import Hummingbird
import HummingbirdTesting
import SwitchboardTestSupport
import Testing

/// Bad input gets a 400 problem that says what is wrong, and changes nothing.
@Suite struct BadInputAPITests {
    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var method: HTTPRequest.Method
        /// `{id}` stands for an existing connection.
        var path: String
        var body: String?
        var field: String?
    }

    static let cases: [Case] = [
        Case(description: "invalid JSON", method: .post, path: "/api/integrations/connections", body: #"{"name": "x", "#),
        Case(description: "no body", method: .post, path: "/api/integrations/connections", body: nil),
        Case(description: "name of the wrong type", method: .post, path: "/api/integrations/connections",
             body: #"{"name": 42, "kind": "helm"}"#, field: "name"),
        Case(description: "metadata of the wrong type", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "helm", "metadata": "yes"}"#, field: "metadata"),
        Case(description: "name over 255 characters", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "\#(String(repeating: "n", count: 256))", "kind": "helm"}"#, field: "name"),
        Case(description: "empty name", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "  ", "kind": "helm"}"#, field: "name"),
        Case(description: "missing kind", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x"}"#, field: "kind"),
        Case(description: "unknown kind", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "mainframe"}"#, field: "kind"),
        Case(description: "unknown status on create", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "helm", "status": "online"}"#, field: "status"),
        Case(description: "status not valid for a new connection", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "helm", "status": "maintenance"}"#, field: "status"),
        Case(description: "malformed credentialId", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "helm", "credentialId": "not-a-uuid"}"#, field: "credentialId"),
        Case(description: "relative url", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "helm", "url": "charts/index.yaml"}"#, field: "url"),
        // The metadata-address bypass: a zone id kept the literal from being recognized.
        Case(description: "url with an IPv6 zone id", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "prometheus", "url": "http://[fe80::254%25lo]/"}"#, field: "url"),
        Case(description: "url with a zone id on a mapped IPv4 address", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "prometheus", "url": "http://[::ffff:a9fe:a9fe%251]/latest/meta-data/iam/security-credentials/"}"#,
             field: "url"),
        Case(description: "url with a raw zone id", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "http", "url": "http://[fe80::1%eth0]:9090/"}"#, field: "url"),
        Case(description: "PUT url with a zone id", method: .put, path: "/api/integrations/connections/{id}",
             body: #"{"url": "http://[fe80::254%25lo]/"}"#, field: "url"),
        Case(description: "url with user and password", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "prometheus", "url": "http://admin:hunter2@prometheus.example:9090/"}"#, field: "url"),
        Case(description: "url with a user name only", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "x", "kind": "grafana", "url": "https://token@grafana.example/"}"#, field: "url"),
        Case(description: "PUT url with user info", method: .put, path: "/api/integrations/connections/{id}",
             body: #"{"url": "http://admin:hunter2@charts.example/"}"#, field: "url"),
        Case(description: "unknown status on transition", method: .post, path: "/api/integrations/connections/{id}/transitions",
             body: #"{"status": "notfound"}"#, field: "status"),
        Case(description: "transition without status", method: .post, path: "/api/integrations/connections/{id}/transitions",
             body: #"{"reason": "why not"}"#, field: "status"),
        Case(description: "malformed UUID in path", method: .get, path: "/api/integrations/connections/12345"),
        Case(description: "malformed UUID on transition", method: .post, path: "/api/integrations/connections/xyz/transitions",
             body: #"{"status": "ignored"}"#, field: "connectionId"),
        Case(description: "malformed UUID in bulk", method: .post, path: "/api/integrations/connections/transitions",
             body: #"{"ids": ["nope"], "status": "ignored"}"#),
        // Sizes out of range are clamped as Meshery's server clamps them (MesheryListCompatibilityTests).
        Case(description: "page size not a number", method: .get, path: "/api/integrations/connections?pageSize=ten", field: "pageSize"),
        Case(description: "page size a fraction", method: .get, path: "/api/integrations/connections?pagesize=2.5", field: "pagesize"),
        Case(description: "negative page", method: .get, path: "/api/integrations/connections?page=-1", field: "page"),
        Case(description: "unknown status filter", method: .get, path: "/api/integrations/connections?status=up", field: "status"),
        Case(description: "bad order", method: .get, path: "/api/integrations/connections?order=password%20asc", field: "order"),
        Case(description: "PUT name too long", method: .put, path: "/api/integrations/connections/{id}",
             body: #"{"name": "\#(String(repeating: "n", count: 300))", "status": "ignored"}"#, field: "name"),
        Case(description: "PUT with another id", method: .put, path: "/api/integrations/connections/{id}",
             body: #"{"id": "00000000-0000-4000-8000-000000000000"}"#, field: "id"),
        Case(description: "events page size not a number", method: .get,
             path: "/api/integrations/connections/{id}/events?pageSize=lots", field: "pageSize"),
        Case(description: "NUL in a name", method: .post, path: "/api/integrations/connections",
             body: #"{"name": "a\u0000b", "kind": "helm"}"#),
        Case(description: "NUL in a query parameter", method: .get, path: "/api/integrations/connections?search=a%00b",
             field: "search"),
        Case(description: "page given twice", method: .get, path: "/api/integrations/connections?page=1&page=2", field: "page"),
        // An empty filter is no filter (Meshery's UI sends `status=`), but an empty piece of a list is refused.
        Case(description: "empty status in a list", method: .get, path: "/api/integrations/connections?status=registered,",
             field: "status"),
        Case(description: "empty environment in a list", method: .get, path: "/api/integrations/connections?environment=,",
             field: "environment"),
        Case(description: "malformed JSON status filter", method: .get,
             path: "/api/integrations/connections?status=%5B%22connected%22", field: "status"),
        Case(description: "JSON status filter with an unknown status", method: .get,
             path: "/api/integrations/connections?status=%5B%22up%22%5D", field: "status"),
        Case(description: "JSON kind filter that is not an array of strings", method: .get,
             path: "/api/integrations/connections?kind=%5B1%2C2%5D", field: "kind"),
        Case(description: "search over 500 characters", method: .get,
             path: "/api/environments?search=\(String(repeating: "s", count: 501))", field: "search"),
        Case(description: "kind filter over 255 characters", method: .get,
             path: "/api/integrations/connections?kind=\(String(repeating: "k", count: 256))", field: "kind"),
        Case(description: "order of three words", method: .get, path: "/api/integrations/connections?order=name%20asc%20please",
             field: "order"),
        Case(description: "bad pagesize beside a good pageSize", method: .get,
             path: "/api/integrations/credentials?pagesize=ten&pageSize=5", field: "pagesize"),
        Case(description: "bulk reason over 1000 characters", method: .post, path: "/api/integrations/connections/transitions",
             body: #"{"ids": ["00000000-0000-4000-8000-000000000000"], "status": "ignored", "reason": "\#(String(repeating: "r", count: 1001))"}"#,
             field: "reason"),
        // 600 accented letters typed with combining marks: 1,200 scalars, as the schema's maxLength counts.
        Case(description: "reason over 1000 scalars in fewer characters", method: .post,
             path: "/api/integrations/connections/{id}/transitions",
             body: #"{"status": "ignored", "reason": "\#(String(repeating: #"e\u0301"#, count: 600))"}"#, field: "reason"),
        Case(description: "name over 255 scalars in fewer characters", method: .put, path: "/api/integrations/connections/{id}",
             body: #"{"name": "\#(String(repeating: #"e\u0301"#, count: 200))"}"#, field: "name"),
        Case(description: "lastEventId not a number", method: .get, path: "/api/events/stream?lastEventId=1x", field: "lastEventId"),
    ]

    @Test(arguments: cases)
    func badInputIsA400ThatChangesNothing(_ testCase: Case) async throws {
        try await ServerHarness.run { harness in
            let existing = try await harness.createConnection(name: "existing", kind: "helm")
            let before = try await harness.store.connection(id: existing.uuid)
            let response = try await harness.request(
                testCase.method, testCase.path.replacingOccurrences(of: "{id}", with: existing.id), json: testCase.body)
            let problem = try expectProblem(response, .badRequest, testCase.description)
            if let field = testCase.field { #expect(problem.field == field, "\(problem.detail)") }
            #expect(try await harness.store.connection(id: existing.uuid) == before)
            #expect(try await harness.history(existing.uuid).count == 1)
            let listing = try await harness.store.list(.init(statuses: ConnectionStatus.allCases))
            #expect(listing.totalCount == 1)
        }
    }

    /// The answer says where the secret belongs, and does not repeat it.
    @Test func userInfoInAURLPointsToACredential() async throws {
        try await ServerHarness.run { harness in
            let response = try await harness.request(
                .post, "/api/integrations/connections",
                json: #"{"name": "x", "kind": "prometheus", "url": "http://admin:hunter2@prometheus.example:9090/"}"#)
            let problem = try expectProblem(response, .badRequest)
            #expect(problem.detail.contains("credential"), "\(problem.detail)")
            #expect(!String(buffer: response.body).contains("hunter2"))
            #expect(try await harness.store.list(.init(statuses: ConnectionStatus.allCases)).totalCount == 0)
        }
    }

    @Test func aKnownPathAskedWithAnotherMethodIs405WithAllow() async throws {
        try await ServerHarness.run { harness in
            let bulk = try await harness.request(.patch, "/api/integrations/connections/transitions")
            #expect(try expectProblem(bulk, .methodNotAllowed).type == "/problems/method-not-allowed")
            #expect(bulk.headers[.allow] == "POST")
            let byId = try await harness.request(.patch, "/api/integrations/connections/\(UUID())")
            try expectProblem(byId, .methodNotAllowed)
            #expect(byId.headers[.allow] == "DELETE, GET, PUT")
            try expectProblem(try await harness.request(.get, "/api/no/such/path"), .notFound)
        }
    }

    @Test func queryStringsAreReadAsFormsEncodeThem() async throws {
        try await ServerHarness.run { harness in
            _ = try await harness.createConnection(name: "a b", kind: "helm", url: "http://127.0.0.1:1/charts")
            _ = try await harness.createConnection(name: #"back\u0000slash"#, kind: "helm", url: "http://127.0.0.1:1/other")
            func total(_ query: String) async throws -> Int {
                let response = try await harness.request(.get, "/api/integrations/connections?\(query)")
                #expect(response.status == .ok, "\(query): \(String(buffer: response.body))")
                return try decode(PageJSON.self, response).totalCount
            }
            #expect(try await total("search=a+b&status=not+found,discovered&order=name+asc") == 1)
            #expect(try await total("search=a%2Bb") == 0)
            #expect(try await total("search=%5Cu0000") == 1)
        }
    }

    @Test func oversizedBodiesAre413() async throws {
        try await ServerHarness.run { harness in
            let huge = #"{"name": "x", "kind": "helm", "description": "\#(String(repeating: "d", count: 1_100_000))"}"#
            let response = try await harness.request(.post, "/api/integrations/connections", json: huge)
            try expectProblem(response, .contentTooLarge)
            #expect(try await harness.store.list(.init()).totalCount == 0)
        }
    }
}
