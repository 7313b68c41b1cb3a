import ConnectionLifecycle
import Foundation
import HTTPTypes
import HummingbirdTesting
import SwitchboardTestSupport
import Testing

/// Members see and change only what they own; anything else answers 404 as if it did not
/// exist, so ids cannot be probed. Admins see everything.
struct MemberVisibilityAPITests {
    struct IdJSON: Decodable { var id: String }
    struct CountJSON: Decodable { var totalCount: Int }

    @Test func membersCannotSeeChangeOrGuessEachOthersThings() async throws {
        try await ServerHarness.run { harness in
            let alice = try await harness.tokens.issue(for: "alice", role: .member).token
            let bob = try await harness.tokens.issue(for: "bob", role: .member).token

            let connection = try decode(IdJSON.self, try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "alices", "kind": "http", "url": "\(harness.target.reachableURL)/alice"}
                """, token: alice)).id
            let credential = try decode(IdJSON.self, try await harness.request(.post, "/api/integrations/credentials",
                json: #"{"name": "alices", "type": "token", "secret": {"token": "t"}}"#, token: alice)).id
            let environment = try decode(IdJSON.self, try await harness.request(.post, "/api/environments",
                json: #"{"name": "alices", "connections": ["\#(connection)"]}"#, token: alice)).id

            // Bob: every way of reaching Alice's things finds nothing, and changes nothing.
            let c = "/api/integrations/connections/\(connection)"
            let attempts: [(HTTPRequest.Method, String, String?)] = [
                (.get, c, nil), (.put, c, #"{"name": "mine now"}"#), (.delete, c, nil),
                (.post, "\(c)/transitions", #"{"status": "ignored"}"#), (.post, "\(c)/ping", nil),
                (.get, "\(c)/events", nil), (.get, "\(c)/data", nil),
                (.get, "/api/integrations/credentials/\(credential)", nil),
                (.get, "/api/integrations/credentials/\(credential)/events", nil),
                (.put, "/api/integrations/credentials", #"{"id": "\#(credential)", "name": "mine"}"#),
                (.delete, "/api/integrations/credentials?credentialId=\(credential)", nil),
                (.get, "/api/environments/\(environment)", nil), (.put, "/api/environments/\(environment)", #"{"name": "x"}"#),
                (.delete, "/api/environments/\(environment)", nil),
                (.get, "/api/environments/\(environment)/connections", nil),
                (.delete, "/api/environments/\(environment)/connections/\(connection)", nil),
                (.post, "/api/integrations/connections", #"{"name": "borrow", "kind": "http", "url": "http://127.0.0.1:1/b", "credentialId": "\#(credential)"}"#),
            ]
            for (method, uri, body) in attempts {
                _ = try expectProblem(try await harness.request(method, uri, json: body, token: bob), .notFound, "\(method) \(uri)")
            }
            let bobsOwn = try decode(IdJSON.self, try await harness.request(.post, "/api/environments",
                                                                           json: #"{"name": "bobs"}"#, token: bob)).id
            _ = try expectProblem(try await harness.request(.post, "/api/environments/\(bobsOwn)/connections/\(connection)",
                                                            token: bob), .notFound)
            let bulk = try await harness.request(.post, "/api/integrations/connections/transitions",
                                                 json: #"{"ids": ["\#(connection)"], "status": "ignored"}"#, token: bob)
            #expect(String(buffer: bulk.body).contains(#""ok":false"#))
            for path in ["/api/integrations/connections", "/api/integrations/credentials", "/api/environments"] {
                let count = try decode(CountJSON.self, try await harness.request(.get, path, token: bob)).totalCount
                #expect(count == (path == "/api/environments" ? 1 : 0), "\(path) shows Bob \(count)")
            }

            // A member may not point a connection at files on the server (the operator's
            // kubeconfig, token files): that would hand the server's secrets to any URL.
            for key in ["kubeconfigPath", "bearerTokenFile", "apiKeyFile", "basicAuthPasswordFile"] {
                let body = #"{"name": "files", "kind": "http", "url": "http://127.0.0.1:1/\#(key)", "metadata": {"\#(key)": "/etc/hostname"}}"#
                _ = try expectProblem(try await harness.request(.post, "/api/integrations/connections", json: body, token: bob),
                                      .forbidden, key)
                _ = try expectProblem(try await harness.request(.put, c, json: #"{"metadata": {"\#(key)": "/etc/hostname"}}"#,
                                                                token: alice), .forbidden, key)
            }
            // An environment Bob owns shows him only what he may see, even if an admin put
            // Alice's connection in it.
            #expect(try await harness.request(.post, "/api/environments/\(bobsOwn)/connections/\(connection)").status == .created)
            let bobsView = try decode(CountJSON.self, try await harness.request(
                .get, "/api/environments/\(bobsOwn)/connections", token: bob))
            #expect(bobsView.totalCount == 0)
            _ = try expectProblem(try await harness.request(.delete, "/api/environments/\(bobsOwn)/connections/\(connection)",
                                                            token: bob), .notFound)

            // Alice's things are as she left them, and she and an admin see them.
            let mine = try await harness.request(.get, c, token: alice)
            #expect(mine.status == .ok && String(buffer: mine.body).contains(#""status":"discovered""#))
            #expect(String(buffer: mine.body).contains(#""name":"alices""#))
            for path in [c, "/api/integrations/credentials/\(credential)", "/api/environments/\(environment)"] {
                #expect(try await harness.request(.get, path).status == .ok, "the admin cannot see \(path)")
                #expect(try await harness.request(.get, path, token: alice).status == .ok)
            }
            #expect(try decode(CountJSON.self, try await harness.request(.get, "/api/integrations/connections")).totalCount == 1)

            // A credential in use says how many use it, naming only what the caller may see.
            let adminsConnection = try decode(IdJSON.self, try await harness.request(.post, "/api/integrations/connections",
                json: #"{"name": "admin uses", "kind": "http", "url": "http://127.0.0.1:1/admin", "credentialId": "\#(credential)"}"#)).id
            let inUse = try expectProblem(try await harness.request(
                .delete, "/api/integrations/credentials?credentialId=\(credential)", token: alice), .conflict)
            #expect(inUse.detail.contains("1 connection") && !inUse.detail.contains(adminsConnection), "\(inUse.detail)")
        }
    }

    @Test func anEnvironmentAnAdminSharesIsReadAndTransitionedNotChanged() async throws {
        try await ServerHarness.run { harness in
            let alice = try await harness.tokens.issue(for: "alice", role: .member).token
            let bob = try await harness.tokens.issue(for: "bob", role: .member).token
            let connection = try decode(IdJSON.self, try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "alices", "kind": "http", "url": "\(harness.target.reachableURL)/alice"}
                """, token: alice)).id
            let environment = try decode(IdJSON.self, try await harness.request(
                .post, "/api/environments", json: #"{"name": "production", "connections": ["\#(connection)"]}"#)).id
            let c = "/api/integrations/connections/\(connection)"
            _ = try expectProblem(try await harness.request(.get, c, token: bob), .notFound, "before sharing")

            // Only an admin shares.
            _ = try expectProblem(try await harness.request(.post, "/api/environments/\(environment)/users/bob", token: alice),
                                  .notFound, "alice cannot even see the admin's environment")
            let shared = try await harness.request(.post, "/api/environments/\(environment)/users/bob")
            #expect(shared.status == .ok && String(buffer: shared.body).contains(#""users":["bob"]"#))

            // Bob reads and transitions; he does not change or delete.
            #expect(try await harness.request(.get, c, token: bob).status == .ok)
            #expect(try decode(CountJSON.self, try await harness.request(.get, "/api/integrations/connections", token: bob)).totalCount == 1)
            #expect(try await harness.request(.get, "/api/environments/\(environment)", token: bob).status == .ok)
            let moved = try await harness.request(.post, "\(c)/transitions", json: #"{"status": "ignored"}"#, token: bob)
            #expect(moved.status == .ok)
            #expect(try await harness.history(try #require(UUID(uuidString: connection))).last?.actor == "bob")
            for (method, uri, body) in [(HTTPRequest.Method.put, c, #"{"name": "bobs now"}"#), (.delete, c, nil),
                                        (.post, "\(c)/transitions", #"{"status": "deleted"}"#),
                                        (.put, "/api/environments/\(environment)", #"{"name": "mine"}"#),
                                        (.post, "/api/environments/\(environment)/users/bob", nil)] {
                _ = try expectProblem(try await harness.request(method, uri, json: body, token: bob), .forbidden, "\(method) \(uri)")
            }
            #expect(String(buffer: try await harness.request(.get, c, token: alice).body).contains(#""name":"alices""#))

            // Unshared, it is gone for Bob again.
            #expect(try await harness.request(.delete, "/api/environments/\(environment)/users/bob").status == .ok)
            _ = try expectProblem(try await harness.request(.get, c, token: bob), .notFound, "after unsharing")
            let audit = try await harness.store.auditEvents(subjectId: try #require(UUID(uuidString: environment)))
            #expect(audit.compactMap(\.detail).contains("shared with bob"))
        }
    }
}
