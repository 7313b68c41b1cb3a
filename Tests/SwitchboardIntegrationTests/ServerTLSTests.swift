import Foundation
import SwitchboardTestSupport
import Testing

/// `switchboard serve --tls-cert --tls-key`: the real binary serving HTTPS with a test
/// authority's certificate, the real CLI trusting that authority with `--ca-file`, and a
/// renewed certificate picked up on SIGHUP by new connections on the same listener.
@Suite(.serialized)
struct ServerTLSTests {
    static func port(of address: String) -> Int {
        Int(address.split(separator: ":").last ?? "") ?? 0
    }

    @Test func theCLITalksToAnHTTPSServerThroughItsPrivateAuthority() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let pki = try await TestPKI.make(in: folder.file("pki"))
        let server = try await ServerProcess(
            dataDirectory: folder.file("data"), logPath: folder.file("server.log"),
            arguments: ["--tls-cert", pki.serverCertificate, "--tls-key", pki.serverKey])
        #expect(server.address.hasPrefix("https://127.0.0.1:"), "\(server.address)")

        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("cli.yaml"))
        let created = try await cli("connection", "create", "--kind", "http", "--name", "over-tls",
                                    "--url", "http://127.0.0.1:9/x", "--ca-file", pki.caCertificate)
        #expect(created.status == 0, "\(created.output)\(created.errors)")

        // Without the authority the certificate is not trusted, and the error says what to do.
        let untrusted = try await cli("connection", "list")
        #expect(untrusted.status == 3)
        #expect(untrusted.errors.contains("--ca-file"), "\(untrusted.errors)")
        // Another authority is no better.
        let other = try await cli("connection", "list", "--ca-file", pki.otherCACertificate)
        #expect(other.status == 3, "\(other.output)")

        // The environment variable, and the login that saves it.
        var viaEnvironment = cli
        viaEnvironment.environment["SWITCHBOARD_CA_FILE"] = pki.caCertificate
        let listed = try await viaEnvironment("connection", "list")
        #expect(listed.status == 0 && listed.output.contains("over-tls"), "\(listed.output)\(listed.errors)")

        var fresh = SwitchboardCLI(server: nil, token: nil, config: folder.file("login.yaml"))
        try server.adminToken.write(toFile: folder.file("token"), atomically: true, encoding: .utf8)
        let login = try await fresh("login", "--server", server.address, "--token-file", folder.file("token"),
                                    "--ca-file", pki.caCertificate)
        #expect(login.status == 0, "\(login.output)\(login.errors)")
        #expect(try String(contentsOfFile: folder.file("login.yaml"), encoding: .utf8).contains("caFile: \(pki.caCertificate)"))
        fresh.environment["SWITCHBOARD_TOKEN"] = nil
        let afterLogin = try await fresh("connection", "list")
        #expect(afterLogin.status == 0 && afterLogin.output.contains("over-tls"), "\(afterLogin.output)\(afterLogin.errors)")

        // Plain HTTP to the TLS port gets nothing useful.
        let plain = SwitchboardCLI(server: server.address.replacingOccurrences(of: "https://", with: "http://"),
                                   token: server.adminToken, config: folder.file("cli.yaml"))
        #expect(try await plain("connection", "list").status != 0)
        #expect(await server.stop() == 0)
    }

    @Test func aRenewedCertificateIsServedAfterSIGHUPOnTheSameListener() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let pki = try await TestPKI.make(in: folder.file("pki"))
        // The server reads these two files; the test replaces them as a renewal would.
        let certificate = folder.file("tls.crt"), key = folder.file("tls.key")
        try FileManager.default.copyItem(atPath: pki.serverCertificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: pki.serverKey, toPath: key)
        let server = try await ServerProcess(
            dataDirectory: folder.file("data"), logPath: folder.file("server.log"),
            arguments: ["--tls-cert", certificate, "--tls-key", key])
        let port = Self.port(of: server.address)
        #expect(try await TestPKI.presentedSubject(port: port).contains("kube-apiserver"))

        let renewed = try await offCooperativeThreads { try pki.issueServerCertificate(name: "renewed", commonName: "switchboard-renewed") }
        try FileManager.default.removeItem(atPath: certificate)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: renewed.certificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: renewed.key, toPath: key)
        // Not before the signal: the server reads the files only then.
        #expect(try await TestPKI.presentedSubject(port: port).contains("kube-apiserver"))
        server.hangUp()
        try await waitUntil(timeout: .seconds(10)) {
            (try? await TestPKI.presentedSubject(port: port))?.contains("switchboard-renewed") == true
        }
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("cli.yaml"))
        let listed = try await cli("connection", "list", "--ca-file", pki.caCertificate)
        #expect(listed.status == 0, "\(listed.output)\(listed.errors)")

        // A broken renewal (a key of another certificate) keeps the working one, and says so.
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: pki.clientKey, toPath: key)
        server.hangUp()
        try await waitUntil(timeout: .seconds(10)) {
            ((try? String(contentsOfFile: folder.file("server.log"), encoding: .utf8)) ?? "")
                .contains("kept the TLS certificate served until now")
        }
        #expect(try await TestPKI.presentedSubject(port: port).contains("switchboard-renewed"))
        #expect(try await cli("connection", "list", "--ca-file", pki.caCertificate).status == 0)
        #expect(await server.stop() == 0)
    }

    @Test func aChainIsServedWholeSoClientsTrustingOnlyTheRootAccept() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let pki = try await TestPKI.make(in: folder.file("pki"))
        let chained = try await offCooperativeThreads { try pki.issueChainedServerCertificate(name: "chained", commonName: "switchboard-chained") }
        let server = try await ServerProcess(
            dataDirectory: folder.file("data"), logPath: folder.file("server.log"),
            arguments: ["--tls-cert", chained.chain, "--tls-key", chained.key])
        let cli = SwitchboardCLI(server: server.address, token: server.adminToken, config: folder.file("cli.yaml"))
        // The CLI trusts the root alone: only the intermediate sent with the certificate links them.
        let listed = try await cli("connection", "list", "--ca-file", pki.caCertificate)
        #expect(listed.status == 0, "\(listed.output)\(listed.errors)")
        #expect(try await TestPKI.presentedSubject(port: Self.port(of: server.address)).contains("switchboard-chained"))
        #expect(await server.stop() == 0)

        // The same certificate without its intermediate is not enough for that client.
        let bare = try await ServerProcess(
            dataDirectory: folder.file("data2"), logPath: folder.file("server2.log"),
            arguments: ["--tls-cert", "\(pki.folder)/chained.crt", "--tls-key", chained.key])
        let bareCLI = SwitchboardCLI(server: bare.address, token: bare.adminToken, config: folder.file("cli.yaml"))
        #expect(try await bareCLI("connection", "list", "--ca-file", pki.caCertificate).status == 3)
        #expect(await bare.stop() == 0)
    }

    @Test func unusableCertificateFilesStopTheStartWithTheReason() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let pki = try await TestPKI.make(in: folder.file("pki"))
        let mismatched = try await ServerProcess.refusal(
            dataDirectory: folder.file("data"), arguments: ["--tls-cert", pki.serverCertificate, "--tls-key", pki.clientKey])
        #expect(mismatched.status == 1)
        #expect(mismatched.output.contains("does not belong to the certificate"), "\(mismatched.output)")
        let missing = try await ServerProcess.refusal(
            dataDirectory: folder.file("data"), arguments: ["--tls-cert", folder.file("nope.crt"), "--tls-key", pki.serverKey])
        #expect(missing.status == 1)
        #expect(missing.output.contains("nope.crt cannot be read"), "\(missing.output)")
        let half = try await ServerProcess.refusal(dataDirectory: folder.file("data"), arguments: ["--tls-cert", pki.serverCertificate])
        #expect(half.status == 2)
        #expect(half.output.contains("tls-key"), "\(half.output)")
    }
}
