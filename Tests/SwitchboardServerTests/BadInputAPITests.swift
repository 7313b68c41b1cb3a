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
        Case(description: "unknown status on transition", method: .post, path: "/api/integrations/connections/{id}/transitions",
             body: #"{"status": "notfound"}"#, field: "status"),
        Case(description: "transition without status", method: .post, path: "/api/integrations/connections/{id}/transitions",
             body: #"{"reason": "why not"}"#, field: "status"),
        Case(description: "malformed UUID in path", method: .get, path: "/api/integrations/connections/12345"),
        Case(description: "malformed UUID on transition", method: .post, path: "/api/integrations/connections/xyz/transitions",
             body: #"{"status": "ignored"}"#, field: "connectionId"),
        Case(description: "malformed UUID in bulk", method: .post, path: "/api/integrations/connections/transitions",
             body: #"{"ids": ["nope"], "status": "ignored"}"#),
        Case(description: "page size too large", method: .get, path: "/api/integrations/connections?pageSize=101", field: "pageSize"),
        Case(description: "page size zero", method: .get, path: "/api/integrations/connections?pageSize=0", field: "pageSize"),
        Case(description: "negative page", method: .get, path: "/api/integrations/connections?page=-1", field: "page"),
        Case(description: "unknown status filter", method: .get, path: "/api/integrations/connections?status=up", field: "status"),
        Case(description: "bad order", method: .get, path: "/api/integrations/connections?order=password%20asc", field: "order"),
        Case(description: "PUT name too long", method: .put, path: "/api/integrations/connections/{id}",
             body: #"{"name": "\#(String(repeating: "n", count: 300))", "status": "ignored"}"#, field: "name"),
        Case(description: "PUT with another id", method: .put, path: "/api/integrations/connections/{id}",
             body: #"{"id": "00000000-0000-4000-8000-000000000000"}"#, field: "id"),
        Case(description: "events page size too large", method: .get,
             path: "/api/integrations/connections/{id}/events?pageSize=1000", field: "pageSize"),
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

    @Test func oversizedBodiesAre413() async throws {
        try await ServerHarness.run { harness in
            let huge = #"{"name": "x", "kind": "helm", "description": "\#(String(repeating: "d", count: 1_100_000))"}"#
            let response = try await harness.request(.post, "/api/integrations/connections", json: huge)
            try expectProblem(response, .contentTooLarge)
            #expect(try await harness.store.list(.init()).totalCount == 0)
        }
    }
}
