import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import SwitchboardTestSupport
import Testing

/// The rest of the CLI: `connection create` and `watch`, `login`/`logout`, `environment …`,
/// `credential …` and `kubeconfig import`, each the real binary against a real server (and,
/// for the import, the Kubernetes stand-in, which speaks the API server's protocol).
@Suite(.serialized)
struct ClientCommandsCLITests {
    @Test func createWatchLoginAndLogout() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))

        let created = try await cli("connection", "create", "--kind", "http", "--name", "gamma",
                              "--url", "\(target.reachableURL)/gamma", "-o", "json")
        #expect(created.status == 0, "\(created.errors)")
        let id = try #require(jsonField(created.output, "id") as? String)
        #expect(jsonField(created.output, "status") as? String == "discovered")

        // A secret of its own, read from standard input, is stored and never printed.
        let withSecret = try await cli("connection", "create", "--kind", "http", "--name", "delta", "--url", "\(target.reachableURL)/delta",
                                 "--secret-key", "token", "--secret-file", "-", "-o", "yaml", input: "s3cret-value\n")
        #expect(withSecret.status == 0, "\(withSecret.errors)")
        #expect(withSecret.output.contains("credentialId: ") && !withSecret.output.contains("s3cret"))
        let unknownKind = try await cli("connection", "create", "--kind", "teleporter", "--name", "x")
        #expect(unknownKind.status == 1 && unknownKind.errors.contains("teleporter"), "\(unknownKind.errors)")
        #expect(try await cli("connection", "create", "--name", "no kind").status == 2)

        let all = try await cli("connection", "list", "--all", "-o", "json")
        #expect((jsonField(all.output, "connections") as? [Any])?.count == 2 && jsonField(all.output, "totalCount") as? Int == 2)

        // watch replays from the start of the log, then follows: every event once, in order.
        let watch = try cli.launch(["connection", "watch", "--after", "0", "-o", "json"])
        let lines = LineCollector(watch.standardOutput as? Pipe)
        #expect(try await cli("connection", "transition", id, "--to", "registered", "--reason", "watched").status == 0)
        try await waitUntil(timeout: .seconds(15), "the watch printed the move") {
            lines.events.contains { $0["connectionId"] as? String == id && $0["to"] as? String == "registered" }
        }
        let sequences = lines.events.compactMap { $0["sequence"] as? Int }
        #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count && sequences.count >= 3)
        kill(watch.processIdentifier, SIGINT)
        watch.waitUntilExit()
        #expect(watch.terminationStatus == 0)
        #expect(try await SwitchboardCLI(server: "http://127.0.0.1:1", token: "sbt_x", config: folder.file("none.yaml"))
            .run(["connection", "watch"]).status == 3)

        // login checks the token and saves it; later commands need neither flag nor variable.
        let anonymous = SwitchboardCLI(server: nil, token: nil, config: folder.file("config.yaml"))
        #expect(try await anonymous("login", "--server", server.address, "--token-file", "-", input: "sbt_wrong\n").status == 1)
        #expect(!FileManager.default.fileExists(atPath: folder.file("config.yaml")))
        let login = try await anonymous("login", "--server", server.address + "/", "--token-file", folder.file("data/admin-token"))
        #expect(login.status == 0 && login.output.contains("Signed in to \(server.address)"), "\(login.errors)")
        let mode = try FileManager.default.attributesOfItem(atPath: folder.file("config.yaml"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try await anonymous("connection", "view", id).output.contains("registered"))
        // The saved token goes only to its own server: the same server under another name
        // gets no token (and says so).
        let port = try #require(server.address.split(separator: ":").last)
        let elsewhere = try await anonymous("connection", "list", "--server", "http://localhost:\(port)")
        #expect(elsewhere.status == 1 && elsewhere.errors.contains("switchboard login"), "\(elsewhere.errors)")
        #expect(try await anonymous("connection", "list", "--server", "127.0.0.1:\(port)").status == 2, "no scheme is a usage error")
        #expect(try await anonymous("logout").status == 0)
        let signedOut = try await anonymous("connection", "list", "--server", server.address)
        #expect(signedOut.status == 1 && signedOut.errors.contains("token"), "\(signedOut.errors)")

        #expect(await server.stop() == 0)
        await target.stop()
    }

    /// `watch` across a server restart: it reconnects by itself and resumes after the last
    /// event it saw, so every event is printed once, in order.
    @Test func watchResumesAcrossARestart() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let port = try freeLoopbackPort()
        var server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"),
                                             arguments: ["--port", "\(port)"])
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))
        var ids: [String] = []
        for name in ["a", "b", "c"] {
            let made = try await cli("connection", "create", "--kind", "http", "--name", name, "--url", "\(target.reachableURL)/\(name)", "-o", "json")
            ids.append(try #require(jsonField(made.output, "id") as? String))
        }
        // From the last creation on, so the first move cannot slip in before the stream opens.
        let history = try await cli("connection", "events", ids[2], "-o", "json")
        let created = try #require((jsonField(history.output, "events") as? [[String: Any]])?.first?["sequence"] as? Int)
        let watch = try cli.launch(["connection", "watch", "--after", "\(created)", "-o", "json"])
        defer { if watch.isRunning { watch.terminate() } }
        let lines = LineCollector(watch.standardOutput as? Pipe)
        #expect(try await cli("connection", "transition", ids[0], "--to", "ignored").status == 0)
        try await waitUntil(timeout: .seconds(15), "the first move printed") { lines.events.count == 1 }

        #expect(await server.stop() == 0)
        server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server-2.log"),
                                         arguments: ["--port", "\(port)"])
        #expect(try await cli("connection", "transition", ids[1], ids[2], "--to", "ignored").status == 0)
        try await waitUntil(timeout: .seconds(20), "the moves after the restart printed") { lines.events.count >= 3 }
        try await Task.sleep(for: .seconds(1))
        let events = lines.events
        let moved = events.compactMap { $0["connectionId"] as? String }
        // One move before the restart, then the bulk move's two (in the order they committed).
        #expect(moved.count == 3 && moved.first == ids[0] && Set(moved.dropFirst()) == Set(ids.dropFirst()), "\(moved)")
        let sequences = events.compactMap { $0["sequence"] as? Int }
        #expect(sequences == sequences.sorted() && Set(sequences).count == 3)
        kill(watch.processIdentifier, SIGINT)
        watch.waitUntilExit()
        #expect(await server.stop() == 0)
        await target.stop()
    }

    @Test func environmentsAndCredentials() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))
        var ids: [String] = []
        for name in ["one", "two"] {
            let made = try await cli("connection", "create", "--kind", "http", "--name", name, "--url", "\(target.reachableURL)/\(name)", "-o", "json")
            ids.append(try #require(jsonField(made.output, "id") as? String))
        }

        // Credentials: secrets from a file or standard input, only their keys ever shown.
        try "username: ops\npassword: hunter2-secret\n".write(toFile: folder.file("basic.yaml"), atomically: true, encoding: .utf8)
        let credential = try await cli("credential", "create", "--name", "basic", "--type", "basic", "--secret-file", folder.file("basic.yaml"), "-o", "json")
        #expect(credential.status == 0, "\(credential.errors)")
        let credentialId = try #require(jsonField(credential.output, "id") as? String)
        #expect(jsonField(credential.output, "secretKeys") as? [String] == ["password", "username"])
        #expect(try await cli("credential", "create", "--name", "no secret", "--type", "basic").status == 2)
        let listed = try await cli("credential", "list")
        #expect(listed.output.contains("basic") && listed.output.contains("password,username") && listed.output.hasSuffix("1 credential\n"))
        let updated = try await cli("credential", "update", credentialId, "--name", "renamed", "--secret-key", "token",
                              "--secret-file", "-", "-o", "yaml", input: "tok-secret\n")
        #expect(updated.status == 0 && updated.output.contains("name: renamed") && updated.output.contains("- token"), "\(updated.errors)")
        let viewed = try await cli("credential", "view", credentialId)
        for run in [credential, listed, updated, viewed] {
            #expect(!run.output.contains("hunter2") && !run.output.contains("tok-secret"))
        }
        let deleted = try await cli("credential", "delete", credentialId, "00000000-0000-0000-0000-000000000000")
        #expect(deleted.status == 1 && deleted.output.contains("\(credentialId)  deleted")
            && deleted.output.contains("00000000-0000-0000-0000-000000000000  failed: "), "\(deleted.output)")

        // Environments: create with a member, rename, add and remove members, delete.
        let made = try await cli("environment", "create", "--name", "prod", "--description", "production", "--connection", ids[0], "-o", "json")
        #expect(made.status == 0, "\(made.errors)")
        let environmentId = try #require(jsonField(made.output, "id") as? String)
        #expect(try await cli("environment", "list").output.contains("prod"))
        #expect(try await cli("environment", "update", environmentId, "--name", "production").status == 0)
        #expect(try await cli("environment", "add", environmentId, ids[1]).output == "\(ids[1])  added\n")
        #expect(try await cli("environment", "remove", environmentId, ids[0]).output == "\(ids[0])  removed\n")
        let view = try await cli("environment", "view", environmentId, "-o", "json")
        #expect(jsonField(view.output, "name") as? String == "production")
        #expect((jsonField(view.output, "connections") as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ids[1]])
        let table = try await cli("environment", "view", environmentId)
        #expect(table.output.contains("two") && !table.output.contains("one "))
        #expect(try await cli("connection", "list", "--environment", environmentId, "-o", "json").output.contains(ids[1]))
        #expect(try await cli("environment", "delete", environmentId).status == 0)
        let gone = try await cli("environment", "view", environmentId)
        #expect(gone.status == 1 && gone.errors.contains("does not exist"), "\(gone.errors)")

        #expect(await server.stop() == 0)
        await target.stop()
    }

    @Test func kubeconfigImportPrintsALinePerContext() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cluster = try await KubernetesStandIn.start(in: folder, tokens: ["cli-token"])
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))
        try cluster.uploadableKubeconfig(token: "cli-token").write(toFile: folder.file("kubeconfig"), atomically: true, encoding: .utf8)

        // lab-cloud would fail, so the dry run ends 1 (FirstHourCLITests has the details).
        let preview = try await cli("kubeconfig", "import", folder.file("kubeconfig"), "--dry-run")
        #expect(preview.status == 1, "\(preview.errors)")
        #expect(try await cli("connection", "list", "-o", "json").output.contains("\"totalCount\" : 0"))

        let imported = try await cli("kubeconfig", "import", folder.file("kubeconfig"), "--connect")
        #expect(imported.status == 1, "a failed context makes the import exit 1")
        let lines = imported.output.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("CONTEXT") == true)
        #expect(lines.contains { $0.hasPrefix("lab ") && $0.contains("connected  connected") }, "\(imported.output)")
        #expect(lines.contains { $0.hasPrefix("lab-cloud ") && $0.contains("failed") && $0.contains("auth-provider") })
        #expect(lines.last == "connected 1, failed 1")

        let again = try await cli("kubeconfig", "import", folder.file("kubeconfig"), "--context", "lab", "-o", "json")
        #expect(again.status == 0)
        let contexts = try #require(jsonField(again.output, "contexts") as? [[String: Any]])
        #expect(contexts.first { $0["name"] as? String == "lab" }?["outcome"] as? String == "already known")
        #expect(try await cli("kubeconfig", "import", folder.file("missing")).status == 2)

        #expect(await server.stop() == 0)
        await cluster.stop()
    }
}

/// Collects a child's output as it comes and reads each line as a JSON event.
final class LineCollector: Sendable {
    private let text = Mutex("")

    init(_ pipe: Pipe?) {
        pipe?.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            // End of output: stop, or Linux keeps calling with nothing to read.
            if chunk.isEmpty { handle.readabilityHandler = nil; return }
            self?.text.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
        }
    }

    var events: [[String: Any]] {
        text.withLock { $0 }.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}
