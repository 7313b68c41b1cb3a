import Foundation
import SwitchboardTestSupport
import Testing

/// `switchboard serve --config FILE` with the real binary: flag over environment over file
/// over default, paths relative to the file, and a clear refusal of unknown keys and bad values.
@Suite(.serialized)
struct ServeConfigFileTests {
    /// The start-up log's `settings` line: each key's value and where it came from.
    static func settingsLine(_ log: String) -> String {
        log.split(separator: "\n").first { $0.contains("settings") && $0.contains("port=") }.map(String.init) ?? ""
    }

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFileWhichBeatsDefaults() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let pki = try await TestPKI.make(in: folder.file("etc/pki"))
        _ = pki
        // Relative paths in the file are relative to the file's folder.
        let settings = """
            # a settings file as an operator writes it
            port: 1                       # the test's --port 0 wins
            tls-cert: pki/server.crt
            tls-key: pki/server.key
            probe-interval: 7             # SWITCHBOARD_PROBE_INTERVAL wins
            probe-timeout: 4
            max-backoff: 100              # --max-backoff wins
            failure-threshold: 5
            auto-register-kinds: [kubernetes, prometheus]
            import-kubeconfig: false
            log-level: debug
            """
        try settings.write(toFile: folder.file("etc/switchboard.yaml"), atomically: true, encoding: .utf8)
        let server = try await ServerProcess(
            dataDirectory: folder.file("data"), logPath: folder.file("server.log"),
            arguments: ["--config", folder.file("etc/switchboard.yaml"), "--max-backoff", "50"],
            environment: ["SWITCHBOARD_PROBE_INTERVAL": "9"])
        // TLS came from the file alone.
        #expect(server.address.hasPrefix("https://"), "\(server.address)")
        let log = try String(contentsOfFile: folder.file("server.log"), encoding: .utf8)
        let line = Self.settingsLine(log)
        let file = folder.file("etc/switchboard.yaml")
        #expect(line.contains("port=0 (--port)"), "\(line)")
        #expect(line.contains("probe-interval=9.0 (SWITCHBOARD_PROBE_INTERVAL)"), "\(line)")
        #expect(line.contains("max-backoff=50.0 (--max-backoff)"), "\(line)")
        #expect(line.contains("probe-timeout=4.0 (probe-timeout in \(file))"), "\(line)")
        #expect(line.contains("failure-threshold=5 (failure-threshold in \(file))"), "\(line)")
        #expect(line.contains("recovery-threshold=2 (default)"), "\(line)")
        #expect(line.contains("auto-register-kinds=[\"kubernetes\", \"prometheus\"]"), "\(line)")
        #expect(line.contains("tls-cert=\(folder.file("etc/pki/server.crt")) (tls-cert in \(file))"), "\(line)")
        // The file's log level is in force: debug lines appear.
        #expect(log.contains("debug"), "no debug lines in the log")

        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("cli.yaml"))
        let listed = try await cli("connection", "list", "--ca-file", pki.caCertificate)
        #expect(listed.status == 0, "\(listed.output)\(listed.errors)")
        #expect(await server.stop() == 0)
    }

    @Test func anUnknownKeyIsRefusedByName() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try "host: 127.0.0.1\nprobe-intervall: 5\n".write(toFile: folder.file("s.yaml"), atomically: true, encoding: .utf8)
        let refused = try await ServerProcess.refusal(dataDirectory: folder.file("data"), arguments: ["--config", folder.file("s.yaml")])
        #expect(refused.status == 2)
        #expect(refused.output.contains("unknown setting 'probe-intervall' (line 2); did you mean 'probe-interval'?"), "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("data")), "the server started before refusing")

        // Nested keys are unknown too, named as the library would read them.
        try "tls:\n  cert: a.crt\n".write(toFile: folder.file("n.yaml"), atomically: true, encoding: .utf8)
        let nested = try await ServerProcess.refusal(dataDirectory: folder.file("data"), arguments: ["--config", folder.file("n.yaml")])
        #expect(nested.status == 2)
        #expect(nested.output.contains("unknown setting 'tls'"), "\(nested.output)")
    }

    @Test func aBadValueNamesWhereItCameFrom() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try "failure-threshold: many\n".write(toFile: folder.file("s.yaml"), atomically: true, encoding: .utf8)
        let fromFile = try await ServerProcess.refusal(dataDirectory: folder.file("data"), arguments: ["--config", folder.file("s.yaml")])
        #expect(fromFile.status == 2)
        #expect(fromFile.output.contains("failure-threshold in \(folder.file("s.yaml")) must be a whole number"), "\(fromFile.output)")
        #expect(!fromFile.output.contains("Usage:"), "the refusal buries its reason under a usage summary: \(fromFile.output)")

        try "log-level: info\n".write(toFile: folder.file("ok.yaml"), atomically: true, encoding: .utf8)
        let fromEnvironment = try await ServerProcess.refusal(
            dataDirectory: folder.file("data"), arguments: ["--config", folder.file("ok.yaml")],
            environment: ["SWITCHBOARD_LOG_LEVEL": "chatty"])
        #expect(fromEnvironment.status == 2)
        #expect(fromEnvironment.output.contains("not 'chatty' (from SWITCHBOARD_LOG_LEVEL)"), "\(fromEnvironment.output)")

        let missing = try await ServerProcess.refusal(dataDirectory: folder.file("data"), arguments: ["--config", folder.file("none.yaml")])
        #expect(missing.status == 2)
        #expect(missing.output.contains("none.yaml cannot be read"), "\(missing.output)")
    }

    @Test func anEmptyFileOrAnEmptyValueSetsNothing() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try "# nothing set yet\ntls-cert:\ntls-key: \"\"\n".write(toFile: folder.file("s.yaml"), atomically: true, encoding: .utf8)
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"),
                                             arguments: ["--config", folder.file("s.yaml")])
        #expect(server.address.hasPrefix("http://"), "\(server.address)")
        #expect(await server.stop() == 0)
        try "# only comments\n".write(toFile: folder.file("c.yaml"), atomically: true, encoding: .utf8)
        let again = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server2.log"),
                                            arguments: ["--config", folder.file("c.yaml")])
        #expect(await again.stop() == 0)
    }
}
