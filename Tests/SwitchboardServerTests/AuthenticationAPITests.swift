import ConnectionLifecycle
import Foundation
import HTTPTypes
import HummingbirdTesting
import SwitchboardEngine
import SwitchboardTestSupport
import Testing

/// Bearer tokens in front of the API: without a valid one, nothing is read or changed.
struct AuthenticationAPITests {
    @Test func requestsWithoutAValidTokenAreRefusedAndChangeNothing() async throws {
        try await ServerHarness.run { harness in
            let revoked = try await harness.tokens.issue(for: "mallory", role: .member)
            try await harness.tokens.revoke(revoked.record.id)
            let expiring = try await harness.tokens.issue(for: "eve", role: .member, expiresIn: .seconds(1))
            try await Task.sleep(for: .milliseconds(1200))
            let create = #"{"name": "sneaky", "kind": "http", "url": "\#(harness.target.reachableURL)/sneaky"}"#
            let attempts: [(String, HTTPFields, String)] = [
                ("no token", [:], "Authorization: Bearer"),
                ("not a bearer", [.authorization: "Basic YWRtaW46YWRtaW4="], "Authorization: Bearer"),
                ("a bearer without a token", [.authorization: "Bearer   "], "Authorization: Bearer"),
                ("no space after the scheme", [.authorization: "Bearer_\(harness.adminToken)"], "Authorization: Bearer"),
                ("wrong token", [.authorization: "Bearer sbt_\(UUID().uuidString)"], "not valid"),
                ("revoked token", [.authorization: "Bearer \(revoked.token)"], "revoked"),
                ("expired token", [.authorization: "Bearer \(expiring.token)"], "expired"),
            ]
            for (label, headers, detail) in attempts {
                for (method, uri, body) in [(HTTPRequest.Method.post, "/api/integrations/connections", create),
                                            (.get, "/api/integrations/connections", nil),
                                            (.get, "/api/integrations/credentials", nil)] {
                    let response = try await harness.request(method, uri, json: body, headers: headers, anonymous: true)
                    let problem = try expectProblem(response, .unauthorized, label)
                    #expect(problem.detail.contains(detail), "\(label): \(problem.detail)")
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                }
            }
            let page = try decode(PageJSON.self, try await harness.request(.get, "/api/integrations/connections"))
            #expect(page.totalCount == 0, "a refused request created something")

            // The scheme in any case, spaces around the token: still the admin.
            for header in ["bearer \(harness.adminToken)", "BEARER  \(harness.adminToken) ", "Bearer \t\(harness.adminToken)"] {
                let response = try await harness.request(.get, "/api/integrations/connections", headers: [.authorization: header], anonymous: true)
                #expect(response.status == .ok, "\(header.debugDescription)")
            }

            // The process's own probes, the metrics, the document and the page stay open.
            for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.yaml", "/", "/app.js"] {
                #expect(try await harness.request(.get, path, anonymous: true).status == .ok, "\(path)")
            }
        }
    }

    @Test func everyEventNamesTheUserWhoActed() async throws {
        try await ServerHarness.run { harness in
            let alice = try await harness.tokens.issue(for: "alice", role: .member).token
            let created = try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "alices", "kind": "http", "url": "\(harness.target.reachableURL)/alice"}
                """, token: alice)
            #expect(created.status == .created)
            let id = try decode(ConnectionJSON.self, created).uuid
            _ = try await harness.request(.post, "/api/integrations/connections/\(id)/transitions",
                                          json: #"{"status": "ignored"}"#, token: alice)
            let history = try await harness.history(id)
            #expect(history.map(\.actor) == ["alice", "alice"])
        }
    }
}
