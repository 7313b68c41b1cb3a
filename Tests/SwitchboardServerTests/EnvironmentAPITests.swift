import ConnectionLifecycle
import Foundation
import HTTPTypes
import HummingbirdTesting
import SwitchboardTestSupport
import Testing

/// Environments on Meshery's paths with a real SQLite file: grouping never changes a
/// connection, and deleting a group never deletes one.
struct EnvironmentAPITests {
    struct EnvironmentJSON: Decodable {
        var id: String
        var schemaVersion: String
        var name: String
        var description: String?
    }

    struct EnvironmentPageJSON: Decodable {
        var environments: [EnvironmentJSON]
        var totalCount: Int
    }

    struct MemberJSON: Decodable {
        var id: String
        /// Meshery's `Environment` objects: the UI shows their names.
        var environments: [EnvironmentJSON]
        var version: Int64

        var environmentIds: [String] { environments.map(\.id) }
    }

    struct MemberPageJSON: Decodable {
        var connections: [MemberJSON]
        var totalCount: Int
    }

    @Test func environmentsGroupConnectionsAndLeaveThemAlone() async throws {
        try await ServerHarness.run { harness in
            let a = try await harness.createConnection(name: "a")
            let b = try await harness.createConnection(name: "b")
            let c = try await harness.createConnection(name: "c")

            let created = try await harness.request(.post, "/api/environments", json: """
                {"name": "production", "description": "what customers use", "organizationId": "\(UUID())", "connections": ["\(a.id)", "\(b.id)"]}
                """)
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let production = try decode(EnvironmentJSON.self, created)
            #expect(production.schemaVersion == "environments.meshery.io/v1beta3")
            let staging = try decode(EnvironmentJSON.self, try await harness.request(
                .post, "/api/environments", json: #"{"name": "staging", "connections": ["\#(b.id)"]}"#))

            // A connection lists every environment it is in; the list filters by them.
            let members = try decode(MemberPageJSON.self,
                                     try await harness.request(.get, "/api/environments/\(production.id)/connections"))
            #expect(Set(members.connections.map(\.id)) == [a.id, b.id] && members.totalCount == 2)
            let shown = try decode(MemberJSON.self, try await harness.request(.get, "/api/integrations/connections/\(b.id)"))
            #expect(Set(shown.environmentIds) == [production.id, staging.id])
            #expect(Set(shown.environments.map(\.name)) == ["production", "staging"])
            let filtered = try decode(MemberPageJSON.self, try await harness.request(
                .get, "/api/integrations/connections?environment=\(staging.id)&environment=\(production.id)"))
            #expect(Set(filtered.connections.map(\.id)) == [a.id, b.id])

            // Membership changes; the connection itself does not (same version).
            let added = try await harness.request(.post, "/api/environments/\(staging.id)/connections/\(c.id)")
            #expect(added.status == .created, "Meshery's schema: 201")
            #expect(try decode(MemberJSON.self, added).environmentIds == [staging.id])
            #expect(try decode(MemberJSON.self, added).version == c.version)
            let removed = try await harness.request(.delete, "/api/environments/\(production.id)/connections/\(a.id)")
            #expect(removed.status == .noContent, "Meshery's schema: 204")
            #expect(removed.body.readableBytes == 0)
            let left = try decode(MemberJSON.self, try await harness.request(.get, "/api/integrations/connections/\(a.id)"))
            #expect(left.environments.isEmpty)

            let renamed = try await harness.request(.put, "/api/environments/\(staging.id)", json: #"{"name": "pre-production"}"#)
            #expect(try decode(EnvironmentJSON.self, renamed).name == "pre-production")
            let searched = try decode(EnvironmentPageJSON.self, try await harness.request(.get, "/api/environments?search=pre-"))
            #expect(searched.environments.map(\.id) == [staging.id])

            // Deleting an environment removes memberships, never connections.
            #expect(try await harness.request(.delete, "/api/environments/\(staging.id)").status == .noContent)
            _ = try expectProblem(try await harness.request(.get, "/api/environments/\(staging.id)"), .notFound)
            let all = try decode(MemberPageJSON.self, try await harness.request(.get, "/api/integrations/connections"))
            #expect(all.totalCount == 3)
            #expect(all.connections.first { $0.id == b.id }?.environmentIds == [production.id])

            // And every change is audited.
            let audit = try await harness.store.auditEvents(subjectId: try #require(UUID(uuidString: staging.id)))
            #expect(audit.map(\.action) == [.created, .updated, .updated, .deleted])
            #expect(audit.allSatisfy { $0.actor == "test-admin" && $0.subjectType == "environment" })
        }
    }

    @Test func badInputIsAProblemAndChangesNothing() async throws {
        try await ServerHarness.run { harness in
            let a = try await harness.createConnection(name: "a")
            let missing = UUID().uuidString
            let cases: [(HTTPRequest.Method, String, String?, String)] = [
                (.post, "/api/environments", #"{"description": "no name"}"#, "name"),
                (.post, "/api/environments", #"{"name": ""}"#, "name"),
                (.post, "/api/environments", #"{"name": "x", "connections": ["\#(a.id)", "\#(missing)"]}"#, "connections"),
                (.post, "/api/environments", #"{"name": "x", "connections": ["nope"]}"#, "connections[1]"),
                (.get, "/api/environments/nope", nil, "environmentId"),
                (.get, "/api/environments?pageSize=zero", nil, "pageSize"),
                (.get, "/api/integrations/connections?environment=nope", nil, "environment"),
            ]
            for (method, uri, body, field) in cases {
                let problem = try expectProblem(try await harness.request(method, uri, json: body), .badRequest, "\(uri) \(body ?? "")")
                if field != "connections[1]" { #expect(problem.field == field, "\(uri) \(body ?? ""): \(problem.detail)") }
            }
            #expect(try decode(EnvironmentPageJSON.self, try await harness.request(.get, "/api/environments")).totalCount == 0)

            let environment = try decode(EnvironmentJSON.self, try await harness.request(
                .post, "/api/environments", json: #"{"name": "e"}"#))
            _ = try expectProblem(try await harness.request(.post, "/api/environments/\(environment.id)/connections/\(missing)"),
                                  .notFound)
            _ = try expectProblem(try await harness.request(.delete, "/api/environments/\(environment.id)/connections/\(a.id)"),
                                  .notFound, "not a member")
            _ = try expectProblem(try await harness.request(.put, "/api/environments/\(environment.id)",
                                                            json: #"{"connections": []}"#), .badRequest)
            _ = try expectProblem(try await harness.request(.delete, "/api/environments/\(missing)"), .notFound)
            let audit = try await harness.store.auditEvents(subjectId: try #require(UUID(uuidString: environment.id)))
            #expect(audit.map(\.action) == [.created], "a refused change is not audited")
        }
    }
}
