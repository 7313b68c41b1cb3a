import Foundation
import SwitchboardTestSupport
import Testing

/// A new operator's first hour with the real binary: the version, help instead of a server,
/// a busy port, plain YAML numbers and counts, where the login is kept, the hint after
/// logout, and a dry-run import's exit code.
@Suite(.serialized)
struct FirstHourCLITests {
    @Test func versionAndVersionFlagPrintTheSameBuildLine() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cli = SwitchboardCLI(server: nil, token: nil, config: folder.file("config.yaml"))
        let flag = try await cli("--version")
        let command = try await cli("version")
        #expect(flag.status == 0 && command.status == 0, "\(flag.errors)\(command.errors)")
        #expect(flag.output == command.output)
        #expect(flag.output.hasPrefix("switchboard ") && flag.output.hasSuffix(" (development build)\n"), "\(flag.output)")
        // The number is the API's: the OpenAPI document the server serves declares the same.
        let number = try #require(flag.output.split(separator: " ").dropFirst().first)
        let openAPI = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/SwitchboardServer/Resources/openapi.yaml")
        let document = try String(contentsOf: openAPI, encoding: .utf8)
        #expect(document.contains("\n  version: \(number)\n"), "the CLI says \(number)")
    }

    /// Without a subcommand the binary explains itself and ends; it used to start a server
    /// in the current folder.
    @Test func aBareSwitchboardPrintsHelpAndStartsNoServer() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var cli = SwitchboardCLI(server: nil, token: nil, config: folder.file("config.yaml"))
        // Were a server to start anyway, it would stay in this folder and on a free port.
        cli.environment["SWITCHBOARD_DATA_DIR"] = folder.file("data")
        cli.environment["SWITCHBOARD_PORT"] = "0"
        cli.environment["SWITCHBOARD_IMPORT_KUBECONFIG"] = "false"
        let bare = try await Self.runBounded(cli, [], timeout: .seconds(20))
        #expect(bare.status == 0, "still running after 20 s (a server?): \(bare.output)")
        #expect(bare.output.contains("USAGE: switchboard <subcommand>") && bare.output.contains("serve"), "\(bare.output)")
        #expect(!bare.output.contains("is running"))
        #expect(!FileManager.default.fileExists(atPath: folder.file("data")))
    }

    @Test func serveOnABusyPortSaysWhichAddressAndWhatToDo() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let holder = try await StandInHTTPServer.start()
        let refused = try await ServerProcess.refusal(dataDirectory: folder.file("data"),
                                                      arguments: ["--port", "\(holder.port)"], timeout: .seconds(60))
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.output.contains("switchboard: cannot listen on 127.0.0.1:\(holder.port): another program is using it"),
                "\(refused.output)")
        #expect(refused.output.contains("--port 0 picks a free one"))
        #expect(!refused.output.contains("Fatal error") && !refused.output.contains("stack trace")
            && !refused.output.contains("bind(descriptor:"), "\(refused.output)")
        await holder.stop()
    }

    /// YAML shows fractions as plain decimals (not 2.834176e+0), and every footer that
    /// counts says "1 connection", not "1 connections".
    @Test func yamlDecimalsAndSingularCounts() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))
        let made = try await cli("connection", "create", "--kind", "http", "--name", "one", "--url", "\(target.reachableURL)/one", "-o", "json")
        let id = try #require(jsonField(made.output, "id") as? String, "\(made.errors)")

        let ping = try await cli("connection", "ping", id, "-o", "yaml")
        #expect(ping.status == 0, "\(ping.errors)")
        let latency = try #require(ping.output.split(separator: "\n").first { $0.hasPrefix("latencyMs: ") }, "\(ping.output)")
        let value = latency.dropFirst("latencyMs: ".count)
        #expect(value.range(of: #"^[0-9]+(\.[0-9]+)?$"#, options: .regularExpression) != nil, "\(latency)")

        #expect(try await cli("connection", "list").output.split(separator: "\n").last == "1 connection: discovered 1")
        try "token: t\n".write(toFile: folder.file("secret.yaml"), atomically: true, encoding: .utf8)
        #expect(try await cli("credential", "create", "--name", "c", "--type", "token", "--secret-file", folder.file("secret.yaml")).status == 0)
        #expect(try await cli("credential", "list").output.hasSuffix("\n1 credential\n"))
        let environment = try await cli("environment", "create", "--name", "prod", "--connection", id, "-o", "json")
        let environmentId = try #require(jsonField(environment.output, "id") as? String, "\(environment.errors)")
        #expect(try await cli("environment", "list").output.hasSuffix("\n1 environment\n"))
        #expect(try await cli("environment", "view", environmentId).output.hasSuffix("\n1 connection\n"))
        // And the plural still where it belongs.
        _ = try await cli("connection", "create", "--kind", "http", "--name", "two", "--url", "\(target.reachableURL)/two")
        #expect(try await cli("connection", "list").output.split(separator: "\n").last == "2 connections: discovered 2")

        #expect(await server.stop() == 0)
        await target.stop()
    }

    /// The login is kept under $XDG_CONFIG_HOME, else $HOME/.config ($SWITCHBOARD_CONFIG
    /// over both); once signed out, a command that needs a token names `switchboard login`.
    @Test func configUnderXDGOrHomeAndTheHintAfterLogout() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        var cli = SwitchboardCLI(server: nil, token: nil, config: "")
        cli.environment["SWITCHBOARD_CONFIG"] = nil
        cli.environment["XDG_CONFIG_HOME"] = folder.file("xdg")
        cli.environment["HOME"] = folder.file("home")
        let login = ["login", "--server", server.address, "--token-file", folder.file("data/admin-token")]
        let xdgFile = folder.file("xdg/switchboard/config.yaml")

        let help = try await cli("login", "--help")
        #expect(help.output.contains("$XDG_CONFIG_HOME/switchboard/config.yaml"), "\(help.output)")

        let signedIn = try await cli.run(login)
        #expect(signedIn.status == 0 && signedIn.output.contains(xdgFile), "\(signedIn.output)\(signedIn.errors)")
        #expect(FileManager.default.fileExists(atPath: xdgFile))
        #expect(!FileManager.default.fileExists(atPath: folder.file("home/.config")))
        #expect(try await cli("connection", "list").status == 0, "the saved server and token are used")

        let logout = try await cli("logout")
        #expect(logout.status == 0 && logout.output.contains("switchboard login") && !FileManager.default.fileExists(atPath: xdgFile))
        let afterLogout = try await cli("connection", "list", "--server", server.address)
        #expect(afterLogout.status == 1, "\(afterLogout.errors)")
        #expect(afterLogout.errors.contains("run `switchboard login --server \(server.address)`"), "\(afterLogout.errors)")

        // No XDG_CONFIG_HOME: $HOME/.config.
        cli.environment["XDG_CONFIG_HOME"] = nil
        #expect(try await cli.run(login).status == 0)
        #expect(FileManager.default.fileExists(atPath: folder.file("home/.config/switchboard/config.yaml")))
        // A token saved for one server is not sent to another name of it; the hint says so.
        let port = try #require(server.address.split(separator: ":").last)
        let elsewhere = try await cli("connection", "list", "--server", "http://localhost:\(port)")
        #expect(elsewhere.status == 1 && elsewhere.errors.contains("switchboard login --server http://localhost:\(port)")
            && elsewhere.errors.contains("the saved login is for \(server.address)"), "\(elsewhere.errors)")

        // SWITCHBOARD_CONFIG wins over both.
        cli.environment["XDG_CONFIG_HOME"] = folder.file("xdg")
        cli.environment["SWITCHBOARD_CONFIG"] = folder.file("explicit.yaml")
        #expect(try await cli.run(login).status == 0)
        #expect(FileManager.default.fileExists(atPath: folder.file("explicit.yaml")))
        #expect(!FileManager.default.fileExists(atPath: xdgFile))

        #expect(await server.stop() == 0)
    }

    /// README: an import with a failed context ends 1; a dry run, which would fail the same
    /// way, too (and still stores nothing).
    @Test func aDryRunWithAFailedContextExitsOne() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cluster = try await KubernetesStandIn.start(in: folder, tokens: ["cli-token"])
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("config.yaml"))
        try cluster.uploadableKubeconfig(token: "cli-token").write(toFile: folder.file("kubeconfig"), atomically: true, encoding: .utf8)

        let preview = try await cli("kubeconfig", "import", folder.file("kubeconfig"), "--dry-run")
        #expect(preview.status == 1, "\(preview.output)\(preview.errors)")
        #expect(preview.output.split(separator: "\n").contains { $0.hasPrefix("lab-cloud ") && $0.contains("failed") }, "\(preview.output)")
        #expect(jsonField(try await cli("connection", "list", "-o", "json").output, "totalCount") as? Int == 0)

        #expect(await server.stop() == 0)
        await cluster.stop()
    }

    /// Runs the binary, waiting up to `timeout` for it to end: its status (nil when it was
    /// still running; then it is killed) and what it printed.
    static func runBounded(_ cli: SwitchboardCLI, _ arguments: [String],
                           timeout: Duration) async throws -> (status: Int32?, output: String) {
        let process = try cli.launch(arguments)
        try (process.standardInput as? Pipe)?.fileHandleForWriting.close()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let exited = !process.isRunning
        if !exited { kill(process.processIdentifier, SIGKILL) }
        // Off the cooperative threads: reading to the end blocks until the process is gone.
        let output = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let out = (process.standardOutput as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
                let err = (process.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: out + err, as: UTF8.self))
            }
        }
        return (exited ? process.terminationStatus : nil, output)
    }
}
