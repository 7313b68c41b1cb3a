import ConnectionLifecycle
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SwitchboardTestSupport
import Testing

/// Credentials on Meshery's paths, with a real SQLite file: secrets go in, never come out.
struct CredentialAPITests {
    struct CredentialJSON: Decodable {
        var id: String
        var name: String
        var type: String
        var secretKeys: [String]
        var keyId: String
    }

    struct CredentialPageJSON: Decodable {
        var credentials: [CredentialJSON]
        var totalCount: Int
    }

    struct AuditJSON: Decodable {
        var events: [Event]
        struct Event: Decodable {
            var action: String
            var actor: String
            var detail: String?
        }
    }

    static let secretValue = "cr3d-S3cret-0f-the-test-4c7e1b"

    @Test func createReadUpdateDeleteWithoutEverShowingTheSecret() async throws {
        try await ServerHarness.run { harness in
            let created = try await harness.request(.post, "/api/integrations/credentials", json: """
                {"name": "prometheus basic auth", "type": "basic", "secret": {"username": "admin", "password": "\(Self.secretValue)"}}
                """)
            #expect(created.status == .created)
            #expect(!String(buffer: created.body).contains(Self.secretValue))
            let credential = try decode(CredentialJSON.self, created)
            #expect(credential.secretKeys == ["password", "username"])

            let shown = try await harness.request(.get, "/api/integrations/credentials/\(credential.id)")
            #expect(shown.status == .ok && !String(buffer: shown.body).contains(Self.secretValue))
            let listed = try decode(CredentialPageJSON.self,
                                    try await harness.request(.get, "/api/integrations/credentials?search=basic"))
            #expect(listed.credentials.map(\.id) == [credential.id] && listed.totalCount == 1)
            let none = try decode(CredentialPageJSON.self,
                                  try await harness.request(.get, "/api/integrations/credentials?search=nothing-like-it"))
            #expect(none.totalCount == 0)

            let updated = try await harness.request(.put, "/api/integrations/credentials", json: """
                {"id": "\(credential.id)", "name": "renamed", "secret": {"token": "another-\(Self.secretValue)"}}
                """)
            #expect(updated.status == .ok)
            let after = try decode(CredentialJSON.self, updated)
            #expect(after.name == "renamed" && after.type == "basic" && after.secretKeys == ["token"])
            #expect(!String(buffer: updated.body).contains(Self.secretValue))

            let deleted = try await harness.request(.delete, "/api/integrations/credentials?credentialId=\(credential.id)")
            #expect(deleted.status == .noContent)
            _ = try expectProblem(try await harness.request(.get, "/api/integrations/credentials/\(credential.id)"), .notFound)

            // Every change is in the audit log, with who and what, never the secret.
            let id = try #require(UUID(uuidString: credential.id))
            let audit = try await harness.store.auditEvents(subjectId: id)
            #expect(audit.map(\.action) == [.created, .updated, .deleted])
            #expect(audit.allSatisfy { $0.actor == "test-admin" && !($0.detail ?? "").contains(Self.secretValue) })
            #expect(audit[1].detail?.contains("name") == true && audit[1].detail?.contains("secret") == true)

            // Nor is it anywhere in the database file, in plain text.
            for file in [harness.databasePath, harness.databasePath + "-wal"] {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
                #expect(bytes.range(of: Data(Self.secretValue.utf8)) == nil, "\(file) holds the secret")
            }
        }
    }

    @Test func aCredentialInUseIsNotDeleted() async throws {
        try await ServerHarness.run { harness in
            let credential = try decode(CredentialJSON.self, try await harness.request(
                .post, "/api/integrations/credentials",
                json: #"{"name": "grafana key", "type": "token", "secret": {"apiKey": "k"}}"#))
            let connection = try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "grafana", "kind": "grafana", "url": "\(harness.target.reachableURL)/grafana", "credentialId": "\(credential.id)"}
                """)
            #expect(connection.status == .created)
            let connectionId = try decode(ConnectionJSON.self, connection).id
            let refused = try expectProblem(
                try await harness.request(.delete, "/api/integrations/credentials?credentialId=\(credential.id)"), .conflict)
            #expect(refused.type == "/problems/credential-in-use" && refused.detail.contains(connectionId))
            // Deleting the connection keeps a credential made on its own.
            _ = try await harness.request(.delete, "/api/integrations/connections/\(connectionId)")
            await harness.engine.drainSideEffects()
            #expect(try await harness.request(.get, "/api/integrations/credentials/\(credential.id)").status == .ok)
            let deleted = try await harness.request(.delete, "/api/integrations/credentials?credentialId=\(credential.id)")
            #expect(deleted.status == .noContent)
        }
    }

    @Test func badInputIsAProblemAndChangesNothing() async throws {
        try await ServerHarness.run { harness in
            let path = "/api/integrations/credentials"
            let cases: [(HTTPRequest.Method, String, String?, String)] = [
                (.post, path, #"{"type": "token", "secret": {"token": "x"}}"#, "name"),
                (.post, path, #"{"name": "n", "secret": {"token": "x"}}"#, "type"),
                (.post, path, #"{"name": "n", "type": "token"}"#, "secret"),
                (.post, path, #"{"name": "n", "type": "token", "secret": {}}"#, "secret"),
                // Numbers and booleans are secret values (Meshery's forms send them); lists are not.
                (.post, path, #"{"name": "n", "type": "token", "secret": {"token": [7]}}"#, "secret.token"),
                (.post, path, #"{"name": " ", "type": "token", "secret": {"token": "x"}}"#, "name"),
                (.post, path, #"{"name": "n", "type": "t", "secret": {"token": "x", "execAllowed": "true"}}"#, "secret.execAllowed"),
                (.post, path, #"{"name": "n", "type": "t", "secret": {"kubeconfig": "clusters: [{name: c, cluster: {server: 'https://k8s.example'}}]\nusers: [{name: u, user: {tokenFile: /etc/shadow}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]"}}"#, "secret.kubeconfig"),
                (.post, path, #"{"name": "n", "type": "t", "secret": {"kubeconfig": "clusters: [{name: c, cluster: {server: 'https://k8s.example'}}]\nusers: [{name: u, user: {exec: {command: /bin/sh}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]"}}"#, "secret.kubeconfig"),
                (.put, path, #"{"name": "n"}"#, "id"),
                (.delete, path, nil, "credentialId"),
                (.delete, path + "?credentialId=nope", nil, "credentialId"),
                (.get, path + "/nope", nil, "credentialId"),
            ]
            for (method, uri, body, field) in cases {
                let problem = try expectProblem(try await harness.request(method, uri, json: body), .badRequest, "\(method) \(uri) \(body ?? "")")
                #expect(problem.field == field, "\(method) \(uri) \(body ?? ""): \(problem.detail)")
            }
            _ = try expectProblem(try await harness.request(.put, path, json: #"{"id": "\#(UUID().uuidString)", "name": "n"}"#),
                                  .notFound)
            let page = try decode(CredentialPageJSON.self, try await harness.request(.get, path))
            #expect(page.totalCount == 0)
        }
    }
}

/// A connection that brings its own secret, checked against the real Prometheus from
/// Debian's package behind basic auth.
@Suite(.enabled(if: ExternalServer.shouldRun(needing: "prometheus")))
struct OwnedCredentialAPITests {
    @Test func aConnectionBringsItsOwnSecretAndTakesItAlong() async throws {
        try await ServerHarness.run { harness in
            let prometheus = try await PrometheusServer.start(in: harness.folder, basicAuth: true)
            defer { prometheus.stop() }
            let url = "http://127.0.0.1:\(prometheus.port)"
            let created = try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "guarded", "kind": "prometheus", "url": "\(url)", "status": "registered",
                 "credentialSecret": {"username": "admin", "password": "\(PrometheusServer.password)"}}
                """)
            #expect(created.status == .created, "\(String(buffer: created.body))")
            #expect(!String(buffer: created.body).contains(PrometheusServer.password))
            let connection = try decode(ConnectionJSON.self, created)
            #expect(connection.status == "registered", "verified with the secret it brought")
            let stored = try #require(try await harness.store.connection(id: connection.uuid))
            let credentialId = try #require(stored.credentialId)
            #expect(try await harness.request(.get, "/api/integrations/credentials/\(credentialId.lowercasedString)").status == .ok)

            let both = try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "both", "kind": "prometheus", "url": "\(url)/other", "credentialId": "\(credentialId.lowercasedString)",
                 "credentialSecret": {"token": "x"}}
                """)
            #expect(try expectProblem(both, .badRequest).field == "credentialSecret")

            _ = try await harness.request(.delete, "/api/integrations/connections/\(connection.id)")
            await harness.engine.drainSideEffects()
            _ = try expectProblem(try await harness.request(.get, "/api/integrations/credentials/\(credentialId.lowercasedString)"),
                                  .notFound)
            // Made with the connection and gone with it: both in the credential's audit log.
            let audit = try await harness.store.auditEvents(subjectId: credentialId)
            #expect(audit.map(\.action) == [.created, .deleted])
            #expect(audit.map(\.actor) == ["test-admin", "system"])
            #expect(!audit.contains { ($0.detail ?? "").contains(PrometheusServer.password) })
        }
    }
}
