import AsyncHTTPClient
import Foundation
import Hummingbird
import SwitchboardDrivers
import SwitchboardTestSupport
import Testing

/// The outbound guard: link-local and cloud metadata addresses are refused unless allowed,
/// and redirects never leave the host.
@Suite struct OutboundHTTPTests {
    @Test(arguments: ["http://169.254.169.254/latest/meta-data/", "http://169.254.1.1:8080/",
                      "http://[fe80::1]/", "http://[fd00:ec2::254]/", "http://[::ffff:169.254.169.254]/"])
    func metadataAndLinkLocalAddressesAreRefused(_ url: String) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await client.shutdown() } }
        let http = OutboundHTTP(client: client)
        await #expect(throws: OutboundError.self) {
            _ = try await http.request(url, timeout: .seconds(1))
        }
        do {
            _ = try await http.request(url, timeout: .seconds(1))
        } catch let error as OutboundError {
            guard case .blockedAddress = error else { Issue.record("\(url): \(error)"); return }
            #expect(error.description.contains("--allow-link-local-targets"))
        }
        // A probe of such a connection is unreachable, and says why.
        let driver = GenericHTTPDriver(http: http, timeout: .seconds(1))
        let result = await driver.probe(.init(name: "metadata", url: url, kind: "http", type: "platform", subType: "http",
                                              status: .registered, createdAt: .now, updatedAt: .now),
                                        timeout: .seconds(1))
        #expect(result.health == .unreachable && result.error?.contains("blocked") == true, "\(result.error ?? "")")
        try await client.shutdown()
    }

    @Test func allowingLinkLocalLetsTheRequestThrough() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let http = OutboundHTTP(client: client, policy: OutboundPolicy(allowLinkLocal: true))
        do {
            // Nothing listens there on this machine: whatever happens, it is not the guard.
            _ = try await http.request("http://169.254.169.254/", timeout: .milliseconds(300))
        } catch let error as OutboundError {
            Issue.record("the guard refused an allowed address: \(error)")
        } catch {}
        try await client.shutdown()
    }

    @Test func redirectsStayOnTheSameHost() async throws {
        let router = Router()
        router.get("here") { _, _ in Response(status: .found, headers: [.location: "/there"]) }
        router.get("there") { _, _ in "arrived" }
        router.get("away") { request, _ in
            // Same port, another host name: still another host.
            let port = request.head.authority?.split(separator: ":").last.map(String.init) ?? "80"
            return Response(status: .found, headers: [.location: "http://localhost:\(port)/there"])
        }
        let server = try await LiveServer.start(router: router)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        let http = OutboundHTTP(client: client)
        do {
            let followed = try await http.request("http://127.0.0.1:\(server.port)/here", timeout: .seconds(10))
            #expect(followed.status == 200 && String(buffer: followed.body) == "arrived")
            await #expect(throws: OutboundError.self) {
                _ = try await http.request("http://127.0.0.1:\(server.port)/away", timeout: .seconds(10))
            }
        } catch {
            Issue.record(error)
        }
        // Always shut down: a client dropped while open stops the whole test process.
        try await client.shutdown()
        await server.stop()
    }
}
