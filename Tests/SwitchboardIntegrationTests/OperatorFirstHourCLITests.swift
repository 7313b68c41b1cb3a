import Foundation
import SwitchboardTestSupport
import Testing

/// Issue 15, a new operator's first hour, with the real binary: --version after a
/// subcommand, no new admin token after the last one is revoked, names where ids go, what
/// `connection view` says about the last check and move, typed metadata, and a Kubernetes
/// cluster added by hand.
@Suite(.serialized)
struct OperatorFirstHourCLITests {
    @Test func versionAfterASubcommandPrintsTheVersion() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cli = SwitchboardCLI(server: nil, token: nil, config: folder.file("config.yaml"))
        let root = try await cli("--version")
        #expect(root.status == 0 && root.output.hasPrefix("switchboard "), "\(root.errors)")
        for arguments in [["connection", "--version"], ["serve", "--version"], ["token", "create", "--version"],
                          ["connection", "list", "--version"]] {
            let run = try await cli.run(arguments)
            #expect(run.status == 0, "\(arguments): \(run.errors)")
            #expect(run.output == root.output, "\(arguments): \(run.output)\(run.errors)")
        }
        // A value that happens to be --version, after `--`, is no request for it.
        let literal = try await cli("connection", "view", "--", "--version")
        #expect(literal.status != 0 && literal.output != root.output)
    }

    /// The first start makes the admin's token; once the last admin token is revoked, a
    /// restart makes none (that would undo the revocation) and says how to make one.
    @Test func revokingTheLastAdminTokenMintsNoNewOneAtTheNextStart() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.file("data")
        let first = try await ServerProcess(dataDirectory: data, logPath: folder.file("server.log"))
        #expect(first.startupOutput.contains("First start: created the user admin"), "\(first.startupOutput)")
        let cli = SwitchboardCLI(server: nil, token: nil, config: folder.file("cli.yaml"))
        let list = try await cli("token", "list", "--data-dir", data)
        let adminLine = try #require(list.output.split(separator: "\n").first { $0.split(separator: "\t").dropFirst().first == "admin" },
                                     "\(list.output)")
        let adminTokenId = String(adminLine.split(separator: "\t")[0])
        #expect(try await cli("token", "revoke", "--data-dir", data, adminTokenId).status == 0)
        #expect(await first.stop() == 0)

        let second = try await ServerProcess(dataDirectory: data, logPath: folder.file("server2.log"))
        #expect(!second.startupOutput.contains("sbt_") && !second.startupOutput.contains("First start"), "\(second.startupOutput)")
        #expect(second.startupOutput.contains("No admin has a token that is not revoked"), "\(second.startupOutput)")
        #expect(second.startupOutput.contains("switchboard token create --data-dir \(data) --user admin --role admin"),
                "\(second.startupOutput)")
        let tokens = try await cli("token", "list", "--data-dir", data)
        #expect(tokens.output.split(separator: "\n").count == 2, "no token was added: \(tokens.output)")
        // The command it prints works, and its token signs in.
        let made = try await cli("token", "create", "--data-dir", data, "--user", "admin", "--role", "admin", "--name", "recovery")
        #expect(made.status == 0, "\(made.errors)")
        let token = made.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let signedIn = SwitchboardCLI(server: second.address, token: token, config: folder.file("admin.yaml"))
        #expect(try await signedIn("connection", "list").status == 0)
        #expect(await second.stop() == 0)

        // With an admin token again, a start says nothing about tokens.
        let third = try await ServerProcess(dataDirectory: data, logPath: folder.file("server3.log"))
        #expect(!third.startupOutput.contains("No admin") && !third.startupOutput.contains("sbt_"), "\(third.startupOutput)")
        #expect(await third.stop() == 0)
    }

    @Test func namesWorkWhereIdsDoAndOwnersShowByName() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))
        let one = try await cli("connection", "create", "--kind", "http", "--name", "one", "--url", "\(target.reachableURL)/one", "-o", "json")
        let oneId = try #require(jsonField(one.output, "id") as? String, "\(one.errors)")
        // A name that is part of another's ("one" in "someone") is no match: names are exact.
        #expect(try await cli("connection", "create", "--kind", "http", "--name", "someone", "--url", "\(target.reachableURL)/x").status == 0)

        let viewed = try await cli("connection", "view", "one", "-o", "json")
        #expect(viewed.status == 0 && jsonField(viewed.output, "id") as? String == oneId, "\(viewed.errors)")
        let moved = try await cli("connection", "transition", "one", "--to", "registered")
        #expect(moved.output.contains("\(oneId)  registered"), "\(moved.output)\(moved.errors)")
        #expect(try await cli("connection", "events", "one").status == 0)

        let environment = try await cli("environment", "create", "--name", "prod", "--connection", "one", "-o", "json")
        #expect(environment.status == 0, "\(environment.errors)")
        let environmentView = try await cli("environment", "view", "prod")
        #expect(environmentView.status == 0, "\(environmentView.errors)")
        // The owner by name, not by id.
        let row = try #require(environmentView.output.split(separator: "\n").dropFirst().first, "\(environmentView.output)")
        #expect(row.contains("  admin  ") && !row.contains("-  20"), "\(environmentView.output)")
        #expect(environmentView.output.contains(oneId))
        #expect(try await cli("environment", "list").output.contains("  admin  "))
        let members = try await cli("connection", "list", "--environment", "prod")
        #expect(members.status == 0 && members.output.contains(oneId) && !members.output.contains("someone"), "\(members.output)\(members.errors)")

        try "token: t\n".write(toFile: folder.file("secret.yaml"), atomically: true, encoding: .utf8)
        #expect(try await cli("credential", "create", "--name", "prom-reader", "--type", "token", "--secret-file", folder.file("secret.yaml")).status == 0)
        let credential = try await cli("credential", "view", "prom-reader")
        #expect(credential.status == 0 && credential.output.contains("prom-reader"), "\(credential.errors)")

        // Two connections named alike: the error lists both ids and says what to do.
        let a = try await cli("connection", "create", "--kind", "http", "--name", "twin", "--url", "\(target.reachableURL)/a", "-o", "json")
        let b = try await cli("connection", "create", "--kind", "http", "--name", "twin", "--url", "\(target.reachableURL)/b", "-o", "json")
        let ids = try [a, b].map { try #require(jsonField($0.output, "id") as? String, "\($0.errors)") }
        let ambiguous = try await cli("connection", "view", "twin")
        #expect(ambiguous.status == 1, "\(ambiguous.output)")
        #expect(ambiguous.errors.contains("2 connections are named 'twin'") && ids.allSatisfy(ambiguous.errors.contains)
            && ambiguous.errors.contains("give the id"), "\(ambiguous.errors)")
        let missing = try await cli("environment", "view", "staging")
        #expect(missing.status == 1 && missing.errors.contains("no environment is named 'staging'")
            && missing.errors.contains("switchboard environment list"), "\(missing.errors)")
        // An id still works, and deleting by name too.
        #expect(try await cli("connection", "view", ids[0]).status == 0)
        #expect(try await cli("credential", "delete", "prom-reader").output.contains("deleted"))
        #expect(try await cli("environment", "delete", "prod").output.contains("deleted"))

        #expect(await server.stop() == 0)
        await target.stop()
    }

    /// `connection view` answers "why is it in this status?": the last check (time,
    /// outcome, error) and the last move with its actor and reason.
    @Test func connectionViewShowsTheLastCheckErrorAndMove() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"),
                                             arguments: ["--probe-registered-interval", "0.2", "--probe-interval", "0.2"])
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))
        let made = try await cli("connection", "create", "--kind", "http", "--name", "flip", "--url", target.switchURL,
                                 "--status", "registered", "-o", "json")
        #expect(made.status == 0, "\(made.errors)")
        let fresh = try await cli("connection", "view", "flip")
        #expect(fresh.output.contains("LAST MOVE   created as registered by admin at "), "\(fresh.output)")

        target.setSwitch(healthy: false)
        try await waitUntil(timeout: .seconds(30), "the monitor moves it to not found") {
            let json = try await cli("connection", "view", "flip", "-o", "json").output
            return jsonField(json, "status") as? String == "not found"
        }
        let view = try await cli("connection", "view", "flip")
        #expect(view.status == 0, "\(view.errors)")
        let lines = view.output.split(separator: "\n").map(String.init)
        let check = try #require(lines.first { $0.hasPrefix("LAST CHECK  ") }, "\(view.output)")
        #expect(check.range(of: #"^LAST CHECK  20\d\d-\d\d-\d\dT[0-9:.]+Z \(unreachable, [0-9.]+ ms\)$"#, options: .regularExpression) != nil,
                "\(check)")
        let error = try #require(lines.first { $0.hasPrefix("LAST ERROR  ") }, "\(view.output)")
        #expect(error.contains("503"), "\(error)")
        let move = try #require(lines.first { $0.hasPrefix("LAST MOVE   ") }, "\(view.output)")
        #expect(move.hasPrefix("LAST MOVE   registered -> not found by system at "), "\(move)")
        // The reason is the newest event's.
        let events = try await cli("connection", "events", "flip", "-o", "json")
        let newest = try #require((jsonField(events.output, "events") as? [[String: Any]])?.first)
        let reason = try #require(newest["reason"] as? String)
        #expect(move.hasSuffix(": \(reason)"), "\(move) / \(reason)")

        #expect(await server.stop() == 0)
        await target.stop()
    }

    @Test func metadataKeepsNumbersAndBooleans() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))
        let made = try await cli("connection", "create", "--kind", "http", "--name", "typed", "--url", "http://typed.example",
                                 "--metadata", "port=8080", "--metadata", "tls=true", "--metadata", "ratio=0.5",
                                 "--metadata", #"label="8080""#, "--metadata", "mode=0755", "--metadata", "team=platform",
                                 "--metadata", "healthIntervalSeconds=30", "-o", "json")
        #expect(made.status == 0, "\(made.errors)")
        let metadata = try #require(jsonField(made.output, "metadata") as? [String: Any], "\(made.output)")
        #expect((metadata["port"] as? NSNumber).map { String(cString: $0.objCType) != "c" && $0.intValue == 8080 } == true, "\(metadata)")
        #expect((metadata["tls"] as? NSNumber).map { String(cString: $0.objCType) == "c" && $0.boolValue } == true, "\(metadata)")
        #expect((metadata["ratio"] as? NSNumber)?.doubleValue == 0.5)
        #expect(metadata["label"] as? String == "8080")
        #expect(metadata["mode"] as? String == "0755")
        #expect(metadata["team"] as? String == "platform")
        #expect((metadata["healthIntervalSeconds"] as? NSNumber)?.intValue == 30)
        #expect(await server.stop() == 0)
    }

    /// A cluster by hand: a kubeconfig and a context (files it names are read by the client),
    /// or a URL, a token file and a CA file. Without a kubeconfig the server refuses it at
    /// once, naming what is missing, and stores nothing.
    @Test func aKubernetesClusterAddedByHand() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cluster = try await KubernetesStandIn.start(in: folder, tokens: ["hand-token"])
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))
        try FileManager.default.createDirectory(atPath: folder.file("kube"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: cluster.pki.caCertificate, toPath: folder.file("kube/ca.crt"))
        try "hand-token\n".write(toFile: folder.file("kube/token"), atomically: true, encoding: .utf8)
        // Relative file names, as kubectl reads them: from the kubeconfig's folder.
        try """
            apiVersion: v1
            kind: Config
            current-context: other
            clusters:
            - {name: lab, cluster: {server: "\(cluster.tokenServerURL)", certificate-authority: ca.crt}}
            users:
            - {name: me, user: {tokenFile: token}}
            contexts:
            - {name: lab, context: {cluster: lab, user: me}}
            - {name: other, context: {cluster: lab, user: me}}
            """.write(toFile: folder.file("kube/config"), atomically: true, encoding: .utf8)

        let byKubeconfig = try await cli("connection", "create", "--kind", "kubernetes", "--name", "lab",
                                         "--kubeconfig", folder.file("kube/config"), "--context", "lab",
                                         "--status", "registered", "-o", "json")
        #expect(byKubeconfig.status == 0, "\(byKubeconfig.errors)")
        #expect(jsonField(byKubeconfig.output, "status") as? String == "registered", "\(byKubeconfig.output)")
        #expect(jsonField(byKubeconfig.output, "url") as? String == cluster.tokenServerURL)
        // The same cluster and user again: the one-connection-per-target rule knows it.
        let again = try await cli("connection", "create", "--kind", "kubernetes", "--name", "lab-again",
                                  "--kubeconfig", "-", input: try String(contentsOfFile: folder.file("kube/config"), encoding: .utf8)
                                    .replacingOccurrences(of: "ca.crt", with: folder.file("kube/ca.crt"))
                                    .replacingOccurrences(of: "tokenFile: token", with: "tokenFile: \(folder.file("kube/token"))"))
        #expect(again.status == 1 && again.errors.contains("already points at the same target"), "\(again.output)\(again.errors)")

        let byToken = try await cli("connection", "create", "--kind", "kubernetes", "--name", "lab-sa",
                                    "--url", cluster.tokenServerURL, "--token-file", folder.file("kube/token"),
                                    "--cluster-ca-file", folder.file("kube/ca.crt"), "--status", "registered", "-o", "json")
        #expect(byToken.status == 0, "\(byToken.errors)")
        #expect(jsonField(byToken.output, "status") as? String == "registered", "\(byToken.output)")
        // From standard input; a wrong token is caught by the check, not stored as working.
        // (A token that is no JWT is known by the kubeconfig's user name, the same for both:
        // lab-sa goes first, or this would be the same target.)
        #expect(try await cli("connection", "delete", "lab-sa").status == 0)
        let wrong = try await cli("connection", "create", "--kind", "kubernetes", "--name", "lab-wrong",
                                  "--url", cluster.tokenServerURL, "--token-file", "-", "--cluster-ca-file", folder.file("kube/ca.crt"),
                                  "--status", "registered", input: "not-the-token\n")
        #expect(wrong.status == 1 && wrong.errors.contains("401"), "\(wrong.output)\(wrong.errors)")

        let before = jsonField(try await cli("connection", "list", "-o", "json").output, "totalCount") as? Int
        let bare = try await cli("connection", "create", "--kind", "kubernetes", "--name", "bare", "--url", cluster.tokenServerURL)
        #expect(bare.status == 1, "\(bare.output)")
        #expect(bare.errors.contains("a kubernetes connection needs a kubeconfig")
            && bare.errors.contains("with this command: --kubeconfig FILE"), "\(bare.errors)")
        #expect(jsonField(try await cli("connection", "list", "-o", "json").output, "totalCount") as? Int == before)
        // The API's answer: 400 problem+json naming the field.
        let api = try await server.request(.POST, "/api/integrations/connections",
                                           body: #"{"name": "bare", "kind": "kubernetes", "url": "https://10.0.0.1:6443"}"#)
        #expect(api.status == 400, "\(String(decoding: api.body, as: UTF8.self))")
        let problem = try JSONSerialization.jsonObject(with: api.body) as? [String: Any]
        #expect(problem?["field"] as? String == "credentialSecret", "\(problem ?? [:])")

        // A usage mistake is caught before anything is sent.
        let noURL = try await cli("connection", "create", "--kind", "kubernetes", "--name", "x", "--token-file", folder.file("kube/token"))
        #expect(noURL.status == 2 && noURL.errors.contains("--token-file needs --url"), "\(noURL.errors)")
        let noContext = try await cli("connection", "create", "--kind", "kubernetes", "--name", "x",
                                      "--kubeconfig", folder.file("kube/config"), "--context", "nope")
        #expect(noContext.status == 2 && noContext.errors.contains("no context 'nope'") && noContext.errors.contains("lab, other"),
                "\(noContext.errors)")

        #expect(await server.stop() == 0)
        await cluster.stop()
    }

    /// `kubeconfig import --dry-run --context NAME` previews only that context: the other
    /// (failing) one is skipped, so the preview passes, and nothing is stored.
    @Test func aDryRunCoversOnlyTheChosenContexts() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cluster = try await KubernetesStandIn.start(in: folder, tokens: ["cli-token"])
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))
        try cluster.uploadableKubeconfig(token: "cli-token").write(toFile: folder.file("kubeconfig"), atomically: true, encoding: .utf8)

        let preview = try await cli("kubeconfig", "import", folder.file("kubeconfig"), "--dry-run", "--context", "lab")
        #expect(preview.status == 0, "\(preview.output)\(preview.errors)")
        let lines = preview.output.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("lab ") && $0.contains("created") }, "\(preview.output)")
        #expect(lines.contains { $0.hasPrefix("lab-cloud ") && $0.contains("skipped") }, "\(preview.output)")
        #expect(jsonField(try await cli("connection", "list", "-o", "json").output, "totalCount") as? Int == 0)
        #expect(await server.stop() == 0)
        await cluster.stop()
    }
}
