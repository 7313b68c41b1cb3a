import Foundation
import SwitchboardServer
import SwitchboardTestSupport
import Testing

/// What `--hub`, `--hub-token-file`, `--hub-ca-file` and `--advertise-url` accept, and the
/// words of each refusal.
@Suite struct HubConfigurationTests {
    @Test func serverURLsAreAbsoluteHTTPWithoutCredentials() throws {
        #expect(try ServerURL.parse("https://hub.example.com:9443/", setting: "hub") == "https://hub.example.com:9443")
        #expect(try ServerURL.parse("http://[::1]:9081/base", setting: "hub") == "http://[::1]:9081/base")
        for (text, words) in [("hub.example.com:9443", "must start with http:// or https://"),
                              ("ftp://hub.example.com", "must start with http:// or https://"),
                              ("not a url", "is not a URL"),
                              ("http:///path", "names no host"),
                              ("https://admin:secret@hub.example.com", "must not hold a user name or password"),
                              ("https://hub.example.com/?x=1", "must not have a query")] {
            #expect(throws: ServerURLError.self) { try ServerURL.parse(text, setting: "advertise-url") }
            do {
                _ = try ServerURL.parse(text, setting: "advertise-url")
            } catch {
                #expect(error.description.contains(words) && error.description.hasPrefix("advertise-url '\(text)'"),
                        "\(error.description)")
            }
        }
        #expect(ServerURL.hostAndPort("https://hub.example.com") == "hub.example.com:443")
        #expect(ServerURL.hostAndPort("http://[::1]:9081") == "[::1]:9081")
        #expect(ServerURL.make(scheme: "http", host: "::1", port: 80) == "http://[::1]:80")
    }

    @Test func loopbackIsLocalhostAnd127Slash8AndColonColon1() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"] {
            #expect(ServerURL.isLoopback(host: host), "\(host)")
        }
        for host in ["128.0.0.1", "10.0.0.1", "hub.example.com", "localhost.example.com", "::2", "0.0.0.0", "::"] {
            #expect(!ServerURL.isLoopback(host: host), "\(host)")
        }
    }

    @Test func plainHTTPToAnotherMachineNeedsToBeAllowed() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let token = folder.file("token")
        try "sbt_x\n".write(toFile: token, atomically: true, encoding: .utf8)
        do {
            _ = try HubConfiguration(url: "http://hub.example.com:9081", tokenFile: token)
            Issue.record("plain http to another machine was accepted")
        } catch {
            #expect(error.setting == "hub" && error.description.contains("--hub-allow-http"), "\(error)")
        }
        #expect(try HubConfiguration(url: "http://hub.example.com:9081", tokenFile: token, allowHTTP: true).url
                == "http://hub.example.com:9081")
        #expect(try HubConfiguration(url: "http://localhost:9081/", tokenFile: token).url == "http://localhost:9081")
        #expect(try HubConfiguration(url: "https://hub.example.com", tokenFile: token).heartbeat == .seconds(10))
    }

    @Test func theTokenFileMustHoldOneToken() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try "".write(toFile: folder.file("empty"), atomically: true, encoding: .utf8)
        try "two\ntokens\n".write(toFile: folder.file("two"), atomically: true, encoding: .utf8)
        try "  sbt_spaced \n".write(toFile: folder.file("spaced"), atomically: true, encoding: .utf8)
        for (file, words) in [("missing", "cannot be read"), ("empty", "is empty"), ("two", "one token on one line")] {
            do {
                _ = try HubConfiguration(url: "https://hub.example.com", tokenFile: folder.file(file))
                Issue.record("\(file) was accepted")
            } catch {
                #expect(error.setting == "hub-token-file" && error.description.contains(words), "\(error)")
            }
        }
        #expect(try HubTokenFile(path: folder.file("spaced")).read() == "sbt_spaced")
    }

    @Test func theCAFileMustHoldACertificate() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try "sbt_x".write(toFile: folder.file("token"), atomically: true, encoding: .utf8)
        try "not a certificate".write(toFile: folder.file("ca.pem"), atomically: true, encoding: .utf8)
        do {
            _ = try HubConfiguration(url: "https://hub.example.com", tokenFile: folder.file("token"), caFile: folder.file("ca.pem"))
            Issue.record("a CA file without a certificate was accepted")
        } catch {
            #expect(error.setting == "hub-ca-file", "\(error)")
        }
        let pki = try await TestPKI.make(in: folder.file("pki"))
        let hub = try HubConfiguration(url: "https://hub.example.com", tokenFile: folder.file("token"), caFile: pki.caCertificate)
        #expect(hub.trustRoots.count == 1)
    }
}
