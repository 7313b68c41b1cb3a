import ConnectionLifecycle
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SwitchboardTestSupport
import Testing

/// Kubeconfig import over HTTP against two Kubernetes API server stand-ins (there is no real
/// API server on these machines; `KubernetesStandIn` speaks the protocol over TLS with a test
/// CA: one cluster takes bearer tokens, the other client certificates).
@Suite(.serialized)
struct KubeconfigImportAPITests {
    /// Two clusters and a kubeconfig with five contexts: two reachable, one whose CA is not
    /// the cluster's, one nobody listens for, one with an auth provider Switchboard refuses.
    struct Clusters {
        let alpha: KubernetesStandIn
        let beta: KubernetesStandIn

        static func start(in folder: TemporaryDirectory) async throws -> Clusters {
            Clusters(alpha: try await KubernetesStandIn.start(in: folder, tokens: ["token-a", "token-a2"]),
                     beta: try await KubernetesStandIn.start(in: folder, tokens: []))
        }

        /// Runs `body` with two clusters, stopped afterwards (after the server's client has
        /// closed its connections to them, so their graceful shutdown is quick).
        static func with<T: Sendable>(_ body: (Clusters) async throws -> T) async throws -> T {
            let folder = try TemporaryDirectory()
            defer { folder.remove() }
            let clusters = try await start(in: folder)
            do {
                let result = try await body(clusters)
                await clusters.stop()
                return result
            } catch {
                await clusters.stop()
                throw error
            }
        }

        func stop() async {
            await alpha.stop()
            await beta.stop()
        }

        func kubeconfig(alphaToken: String = "token-a", only: [String]? = nil) throws -> String {
            let alphaCA = try alpha.pki.base64(alpha.pki.caCertificate)
            let contexts: [(name: String, cluster: String, user: String)] = [
                ("alpha", "alpha", "alpha-user"), ("beta", "beta", "beta-user"), ("bad-ca", "alpha-wrong-ca", "alpha-user"),
                ("gone", "nowhere", "alpha-user"), ("gcp", "alpha", "gcp-user"),
            ].filter { only?.contains($0.name) ?? true }
            return """
                apiVersion: v1
                kind: Config
                current-context: alpha
                clusters:
                - name: alpha
                  cluster: {server: "\(alpha.tokenServerURL)", certificate-authority-data: \(alphaCA)}
                - name: beta
                  cluster: {server: "\(beta.certificateServerURL)", certificate-authority-data: \(try beta.pki.base64(beta.pki.caCertificate))}
                - name: alpha-wrong-ca
                  cluster: {server: "\(alpha.tokenServerURL)", certificate-authority-data: \(try alpha.pki.base64(alpha.pki.otherCACertificate))}
                - name: nowhere
                  cluster: {server: "https://127.0.0.1:1", certificate-authority-data: \(alphaCA)}
                users:
                - name: alpha-user
                  user: {token: \(alphaToken)}
                - name: beta-user
                  user: {client-certificate-data: \(try beta.pki.base64(beta.pki.clientCertificate)), client-key-data: \(try beta.pki.base64(beta.pki.clientKey))}
                - name: gcp-user
                  user: {auth-provider: {name: gcp, config: {access-token: nope}}}
                contexts:
                \(contexts.map { "- {name: \($0.name), context: {cluster: \($0.cluster), user: \($0.user)}}" }.joined(separator: "\n"))
                """
        }
    }

    struct ImportJSON: Decodable {
        var contexts: [ContextJSON]
        var summary: [String: Int]

        func result(_ name: String) throws -> ContextJSON { try #require(contexts.first { $0.name == name }) }
    }

    struct ContextJSON: Decodable {
        var name: String
        var outcome: String
        var reachable: Bool?
        var detail: String?
        var connectionId: String?
        var status: String?
    }

    static func form(_ fields: [String: String]) -> (HTTPFields, ByteBuffer) {
        let boundary = "switchboard-\(UUID().uuidString)"
        var body = ""
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            let file = name == "k8sfile" ? #"; filename="config""# : ""
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\(file)\r\n\r\n\(value)\r\n"
        }
        body += "--\(boundary)--\r\n"
        return ([.contentType: "multipart/form-data; boundary=\(boundary)"], ByteBuffer(string: body))
    }

    static func post(_ harness: ServerHarness, _ fields: [String: String],
                     to path: String = "/api/system/kubernetes") async throws -> TestResponse {
        var (headers, body) = form(fields)
        headers[.authorization] = "Bearer \(harness.adminToken)"
        return try await harness.client.execute(uri: path, method: .post, headers: headers, body: body)
    }

    static func importFile(_ harness: ServerHarness, _ text: String, _ extra: [String: String] = [:]) async throws -> ImportJSON {
        let response = try await post(harness, ["k8sfile": text].merging(extra) { $1 })
        #expect(response.status == .ok, "\(String(buffer: response.body))")
        return try decode(ImportJSON.self, response)
    }

    static func kubernetesConnections(_ harness: ServerHarness) async throws -> [ConnectionJSON] {
        try decode(PageJSON.self, try await harness.request(.get, "/api/integrations/connections?kind=kubernetes&pageSize=100"))
            .connections
    }

    /// MultipartKit 4.7.1 stops the process on a header name byte above 0x7F; the server
    /// answers 400 before it gets there.
    @Test func aPartHeaderNameThatIsNotASCIIIsA400() async throws {
        try await ServerHarness.run { harness in
            var body = ByteBuffer(string: "--b\r\nCont")
            body.writeBytes([0xC3, 0xA9])
            body.writeString("nt-Disposition: form-data; name=\"k8sfile\"\r\n\r\nx\r\n--b--\r\n")
            for path in ["/api/system/kubernetes", "/api/system/kubernetes/contexts"] {
                let response = try await harness.client.execute(
                    uri: path, method: .post,
                    headers: [.authorization: "Bearer \(harness.adminToken)", .contentType: "multipart/form-data; boundary=b"],
                    body: body)
                try expectProblem(response, .badRequest, path)
            }
            // A file name that is not ASCII is a header value, and fine.
            var named = ByteBuffer(string: "--b\r\nContent-Disposition: form-data; name=\"k8sfile\"; filename=\"")
            named.writeBytes([0xC3, 0xBC])
            named.writeString(".yaml\"\r\n\r\nkind: Config\r\n--b--\r\n")
            let response = try await harness.client.execute(
                uri: "/api/system/kubernetes/contexts", method: .post,
                headers: [.authorization: "Bearer \(harness.adminToken)", .contentType: "multipart/form-data; boundary=b"],
                body: named)
            #expect(try expectProblem(response, .badRequest).field == "k8sfile")
        }
    }

    @Test func fiveContextsGetFiveOutcomes() async throws {
        try await Clusters.with { clusters in
        try await ServerHarness.run { harness in
            let response = try await Self.post(harness, ["k8sfile": try clusters.kubeconfig()])
            #expect(!String(buffer: response.body).contains("token-a"), "the response shows a secret")
            let result = try decode(ImportJSON.self, response)

            #expect(result.contexts.map(\.name) == ["alpha", "beta", "bad-ca", "gone", "gcp"])
            for name in ["alpha", "beta"] {
                let context = try result.result(name)
                #expect(context.outcome == "created" && context.status == "registered" && context.reachable == true,
                        "\(context)")
            }
            for name in ["bad-ca", "gone"] {
                let context = try result.result(name)
                #expect(context.outcome == "created" && context.status == "discovered" && context.reachable == false,
                        "\(context)")
                #expect(context.detail?.isEmpty == false)
            }
            let refused = try result.result("gcp")
            #expect(refused.outcome == "failed" && refused.connectionId == nil)
            #expect(refused.detail?.contains("auth-provider 'gcp'") == true, "\(refused.detail ?? "")")
            #expect(result.summary == ["created": 4, "failed": 1])

            let stored = try await Self.kubernetesConnections(harness)
            #expect(Set(stored.map(\.name)) == ["alpha", "beta", "bad-ca", "gone"])
            // The importer found it; the system registered it; both say so.
            let alphaId = try #require(try result.result("alpha").connectionId)
            let alpha = try #require(UUID(uuidString: alphaId))
            let history = try await harness.history(alpha)
            #expect(history.map(\.to) == [.discovered, .registered])
            #expect(history.map(\.actor) == ["test-admin", "system"])
            #expect(history.first?.reason == "discovered by kubeconfig import")
            // The kubeconfig's secrets are stored encrypted, never as text.
            let database = try Data(contentsOf: URL(fileURLWithPath: harness.databasePath))
            let wal = (try? Data(contentsOf: URL(fileURLWithPath: harness.databasePath + "-wal"))) ?? Data()
            for secret in ["token-a", try clusters.beta.pki.base64(clusters.beta.pki.clientKey).prefix(40).description] {
                #expect(database.range(of: Data(secret.utf8)) == nil && wal.range(of: Data(secret.utf8)) == nil,
                        "\(secret) is stored in plain text")
            }
        }
        }
    }

    @Test func reimportChangesNothingAndRespectsTheAdmin() async throws {
        try await Clusters.with { clusters in
        try await ServerHarness.run { harness in
            let file = try clusters.kubeconfig()
            let first = try await Self.importFile(harness, file)
            let before = try await Self.kubernetesConnections(harness)

            let again = try await Self.importFile(harness, file)
            #expect(again.summary == ["already known": 4, "failed": 1])
            let after = try await Self.kubernetesConnections(harness)
            #expect(Dictionary(uniqueKeysWithValues: after.map { ($0.id, $0.version) })
                    == Dictionary(uniqueKeysWithValues: before.map { ($0.id, $0.version) }))

            // A renewed token updates the credential, and nothing else.
            let alphaId = try #require(first.result("alpha").connectionId)
            let renewed = try await Self.importFile(harness, try clusters.kubeconfig(alphaToken: "token-a2"))
            #expect(try renewed.result("alpha").outcome == "updated")
            #expect(try renewed.result("alpha").connectionId == alphaId)
            #expect(try renewed.result("alpha").status == "registered")
            #expect(try renewed.result("beta").outcome == "already known")
            let alpha = try #require(UUID(uuidString: alphaId))
            let last = try #require(try await harness.history(alpha).last)
            #expect(last.from == .registered && last.to == .registered && last.reason?.contains("credential") == true)
            clusters.alpha.revoke("token-a")
            let ping = try await harness.request(.post, "/api/integrations/connections/\(alphaId)/ping")
            #expect(String(buffer: ping.body).contains(#""reachable":true"#), "\(String(buffer: ping.body))")

            // What an admin decided stays decided.
            let betaId = try #require(first.result("beta").connectionId)
            for (id, status) in [(alphaId, "ignored"), (betaId, "maintenance")] {
                let moved = try await harness.request(.post, "/api/integrations/connections/\(id)/transitions",
                                                      json: #"{"status": "\#(status)"}"#)
                #expect(moved.status == .ok, "\(String(buffer: moved.body))")
            }
            let third = try await Self.importFile(harness, try clusters.kubeconfig(alphaToken: "token-a2"))
            #expect(try third.result("alpha").outcome == "ignored" && third.result("alpha").status == "ignored")
            #expect(try third.result("beta").outcome == "already known" && third.result("beta").status == "maintenance")
            #expect(try await Self.kubernetesConnections(harness).count == 4)
        }
        }
    }

    /// Changing an imported connection's metadata recomputes its fingerprint from the stored
    /// kubeconfig; that must name the user as the file did, or a token user's connection
    /// (identified by the user's name) is no longer found and the next import duplicates it.
    /// Found by the kubeconfig fuzz target (scripts/fuzz-inputs).
    @Test func editedConnectionIsFoundAgainOnReimport() async throws {
        try await Clusters.with { clusters in
        try await ServerHarness.run { harness in
            let file = try clusters.kubeconfig(only: ["alpha"])
            let alphaId = try #require(try await Self.importFile(harness, file).result("alpha").connectionId)
            let edited = try await harness.request(.put, "/api/integrations/connections/\(alphaId)",
                                                   json: #"{"metadata": {"context": "alpha", "cluster": "alpha", "user": "alpha-user", "team": "platform"}}"#)
            #expect(edited.status == .ok, "\(String(buffer: edited.body))")

            let again = try await Self.importFile(harness, file)
            #expect(try again.result("alpha").outcome == "already known")
            #expect(try again.result("alpha").connectionId == alphaId)
            #expect(try await Self.kubernetesConnections(harness).count == 1)
        }
        }
    }

    @Test func concurrentImportsCreateEachConnectionOnce() async throws {
        // Over loopback, so the requests are truly concurrent.
        try await Clusters.with { clusters in
        try await ServerHarness.run(.live) { harness in
            let file = try clusters.kubeconfig()
            let results = try await withThrowingTaskGroup(of: ImportJSON.self) { group in
                for _ in 0..<100 { group.addTask { try await Self.importFile(harness, file) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 100)
            #expect(results.allSatisfy { $0.contexts.count == 5 })
            // Exactly one import created each context; the others found it.
            for name in ["alpha", "beta", "bad-ca", "gone"] {
                let outcomes = try results.map { try $0.result(name).outcome }
                #expect(outcomes.filter { $0 == "created" }.count == 1, "\(name): \(Set(outcomes))")
                #expect(Set(try results.map { try $0.result(name).connectionId }).count == 1)
            }
            let stored = try await Self.kubernetesConnections(harness)
            #expect(stored.count == 4)
            for connection in stored {
                let history = try await harness.history(try #require(UUID(uuidString: connection.id)))
                #expect(history.filter { $0.from == nil }.count == 1)
            }
        }
        }
    }

    @Test func contextsArePreviewedWithoutStoringAnything() async throws {
        try await Clusters.with { clusters in
        try await ServerHarness.run { harness in
            let response = try await Self.post(harness, ["k8sfile": try clusters.kubeconfig()], to: "/api/system/kubernetes/contexts")
            #expect(response.status == .ok)
            let preview = try decode(ImportJSON.self, response)
            #expect(try preview.result("alpha").reachable == true)
            #expect(try preview.result("beta").reachable == true)
            #expect(try preview.result("bad-ca").reachable == false)
            #expect(try preview.result("gone").reachable == false)
            #expect(try preview.result("gcp").outcome == "failed")
            #expect(try await Self.kubernetesConnections(harness).isEmpty)
        }
        }
    }

    /// The preview covers what the import would: with `selectedContexts`, only those are
    /// checked; the others are `skipped`, as the import reports them.
    @Test func thePreviewCoversOnlyTheSelectedContexts() async throws {
        try await Clusters.with { clusters in
        try await ServerHarness.run { harness in
            let response = try await Self.post(harness, ["k8sfile": try clusters.kubeconfig(), "selectedContexts": #"["alpha"]"#],
                                               to: "/api/system/kubernetes/contexts")
            #expect(response.status == .ok)
            let preview = try decode(ImportJSON.self, response)
            #expect(try preview.result("alpha").outcome == "created")
            #expect(try preview.result("alpha").reachable == true)
            for other in ["beta", "bad-ca", "gone", "gcp"] {
                #expect(try preview.result(other).outcome == "skipped", "\(other)")
                #expect(try preview.result(other).reachable == nil, "\(other) was checked")
            }
            #expect(try await Self.kubernetesConnections(harness).isEmpty)
        }
        }
    }

    @Test func selectedContextsAndConnectReachable() async throws {
        try await Clusters.with { clusters in
        try await ServerHarness.run { harness in
            let result = try await Self.importFile(harness, try clusters.kubeconfig(),
                                                   ["selectedContexts": #"["alpha", "gone"]"#, "connectReachable": "true"])
            #expect(try result.result("alpha").outcome == "connected" && result.result("alpha").status == "connected")
            #expect(try result.result("gone").outcome == "created" && result.result("gone").status == "discovered")
            for name in ["beta", "bad-ca", "gcp"] { #expect(try result.result(name).outcome == "skipped") }
            #expect(try await Self.kubernetesConnections(harness).count == 2)
        }
        }
    }

    @Test func contextsForOneClusterAndUserShareOneConnection() async throws {
        try await Clusters.with { clusters in
        try await ServerHarness.run { harness in
            let alpha = clusters.alpha
            // As kubectl users write them: one context per namespace, same cluster and user.
            let file = """
                clusters: [{name: alpha, cluster: {server: "\(alpha.tokenServerURL)", certificate-authority-data: \(try alpha.pki.base64(alpha.pki.caCertificate))}}]
                users: [{name: me, user: {token: token-a}}]
                contexts:
                - {name: alpha, context: {cluster: alpha, user: me}}
                - {name: alpha-kube-system, context: {cluster: alpha, user: me, namespace: kube-system}}
                """
            let first = try await Self.importFile(harness, file)
            #expect(try first.result("alpha").outcome == "created")
            #expect(try first.result("alpha-kube-system").outcome == "already known")
            #expect(try first.result("alpha-kube-system").connectionId == first.result("alpha").connectionId)
            let before = try await Self.kubernetesConnections(harness)
            #expect(before.count == 1)
            // Re-importing, in either order, changes nothing.
            for _ in 0..<2 { _ = try await Self.importFile(harness, file) }
            let reversed = file.replacingOccurrences(of: "- {name: alpha, context: {cluster: alpha, user: me}}\n", with: "")
                + "\n- {name: alpha, context: {cluster: alpha, user: me}}"
            _ = try await Self.importFile(harness, reversed)
            #expect(try await Self.kubernetesConnections(harness).map(\.version) == before.map(\.version))
        }
        }
    }

    @Test func aClusterCredentialIsSentOnlyToItsCluster() async throws {
        try await Clusters.with { clusters in
        try await ServerHarness.run { harness in
            let imported = try await Self.importFile(harness, try clusters.kubeconfig(only: ["alpha"]))
            let alphaId = try #require(try imported.result("alpha").connectionId)
            let alphaUUID = try #require(UUID(uuidString: alphaId))
            let alpha = try #require(try await harness.store.connection(id: alphaUUID))
            let credentialId = try #require(alpha.credentialId)
            // Someone points a Prometheus connection elsewhere and names the cluster's credential.
            let created = try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "exfiltrate", "kind": "prometheus", "url": "\(harness.target.reachableURL)/collector",
                 "credentialId": "\(credentialId.lowercasedString)"}
                """)
            #expect(created.status == .created)
            let id = try decode(ConnectionJSON.self, created).id
            let requestsBefore = harness.target.requestCount
            let ping = try await harness.request(.post, "/api/integrations/connections/\(id)/ping")
            let answer = String(buffer: ping.body)
            #expect(answer.contains(#""reachable":false"#) && answer.contains("only sent to its cluster"), "\(answer)")
            #expect(harness.target.requestCount == requestsBefore, "the token left for another host")
        }
        }
    }

    @Test func badUploadsAreProblemsAndChangeNothing() async throws {
        try await ServerHarness.run { harness in
            let json = try await harness.request(.post, "/api/system/kubernetes", json: #"{"k8sfile": "x"}"#)
            _ = try expectProblem(json, .unsupportedMediaType)
            #expect(try expectProblem(try await Self.post(harness, ["selectedContexts": "a"]), .badRequest).field == "k8sfile")
            #expect(try expectProblem(try await Self.post(harness, ["k8sfile": "clusters: 7"]), .badRequest).field == "k8sfile")
            let valid = "contexts: [{name: a, context: {cluster: a}}]\nclusters: [{name: a, cluster: {server: 'https://127.0.0.1:1'}}]"
            #expect(try expectProblem(try await Self.post(harness, ["k8sfile": valid, "connectReachable": "maybe"]),
                                      .badRequest).field == "connectReachable")
            // Files on the server and exec plugins are refused for uploads, per context.
            let sneaky = """
                clusters: [{name: a, cluster: {server: 'https://127.0.0.1:1', certificate-authority: /etc/ssl/private/key.pem}},
                           {name: b, cluster: {server: 'https://127.0.0.1:1'}}]
                users: [{name: runner, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh}}}]
                contexts: [{name: reads-files, context: {cluster: a}}, {name: runs-things, context: {cluster: b, user: runner}}]
                """
            let refused = try await Self.importFile(harness, sneaky)
            #expect(try refused.result("reads-files").outcome == "failed")
            #expect(try refused.result("reads-files").detail?.contains("/etc/ssl/private/key.pem") == true)
            #expect(try refused.result("runs-things").outcome == "failed")
            #expect(try refused.result("runs-things").detail?.contains("exec plugin") == true)
            #expect(try await Self.kubernetesConnections(harness).isEmpty)
        }
    }

    /// The upload that once produced 203 credentials and 178 MB of sealed secrets and never
    /// answered: 880 KB named by alias from 256 users. Now a quick 400 that stores nothing.
    @Test(.timeLimit(.minutes(1)))
    func anAliasAmplifiedUploadIsRefusedQuicklyAndStoresNothing() async throws {
        var lines = ["apiVersion: v1", "kind: Config", "preferences: {big: &big \(String(repeating: "t", count: 880_000))}",
                     "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]", "users:"]
        lines += (0..<256).map { "- {name: u\($0), user: {token: *big}}" }
        lines.append("contexts:")
        lines += (0..<256).map { "- {name: x\($0), context: {cluster: c, user: u\($0)}}" }
        let upload = lines.joined(separator: "\n")
        #expect(upload.utf8.count > 900_000 && upload.utf8.count < 1_000_000)
        try await ServerHarness.run { harness in
            for path in ["/api/system/kubernetes", "/api/system/kubernetes/contexts"] {
                let started = ContinuousClock.now
                let response = try await Self.post(harness, ["k8sfile": upload], to: path)
                let elapsed = ContinuousClock.now - started
                let problem = try expectProblem(response, .badRequest, path)
                #expect(problem.field == "k8sfile")
                #expect(problem.detail.contains("line 6, column 28 is an alias"), "\(problem.detail)")
                #expect(elapsed < .seconds(5), "\(path) took \(elapsed)")
            }
            #expect(try await Self.kubernetesConnections(harness).isEmpty)
            #expect(try await harness.credentials.list(.init()).totalCount == 0)
        }
    }
}
