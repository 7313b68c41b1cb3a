import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOSSL
@testable import SwitchboardDrivers
import SwitchboardTestSupport
import Testing

/// The address guard decides on the bytes of the address connected to: every spelling of a
/// link-local or metadata address is refused, zones never matter, and the request goes to
/// the address that was checked.
@Suite struct AddressGuardTests {
    static let blocked = [
        "169.254.169.254", "169.254.0.1", "169.254.255.255", "100.100.100.200", "168.63.129.16",
        // IPv4-mapped, in every notation, with and without a zone.
        "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "::FFFF:A9FE:A9FE", "0:0:0:0:0:ffff:a9fe:a9fe",
        "::ffff:a9fe:a9fe%1", "[::ffff:a9fe:a9fe%1]", "::ffff:a9fe:a9fe%eth0",
        // IPv4-compatible and NAT64 (well-known and local-use prefixes).
        "::169.254.169.254", "::a9fe:a9fe", "64:ff9b::169.254.169.254", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe",
        // Link-local IPv6, the whole fe80::/10, zones ignored.
        "fe80::254", "fe80::254%lo", "[fe80::254%lo]", "fe80::1%25eth0", "FE80::1", "febf:ffff::1",
        // Cloud metadata over IPv6.
        "fd00:ec2::254", "fd20:ce::254", "[fd00:ec2::254]",
    ]

    static let allowed = [
        "127.0.0.1", "10.0.0.1", "192.168.1.1", "169.253.255.255", "169.255.0.0", "100.100.100.100",
        "::1", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "fec0::1", "fe7f::1", "2001:db8::1",
        "64:ff9b::a00:1", "fd00:ec2::253", "prometheus.example",
    ]

    @Test(arguments: blocked)
    func blockedSpellings(_ address: String) {
        #expect(AddressGuard.isBlocked(address))
    }

    @Test(arguments: allowed)
    func allowedSpellings(_ address: String) {
        #expect(!AddressGuard.isBlocked(address))
    }

    /// Zones are refused before anything resolves them, even where link-local is allowed.
    @Test(arguments: ["[fe80::254%lo]", "[::ffff:a9fe:a9fe%1]", "fe80::1%eth0", "[2001:db8::1%1]"], [false, true])
    func zoneIdsAreRefused(_ host: String, allowLinkLocal: Bool) async {
        await #expect(throws: OutboundError.zoneIdentifier(host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")))) {
            _ = try await AddressGuard.destination(host: host, policy: OutboundPolicy(allowLinkLocal: allowLinkLocal))
        }
    }

    /// Names are resolved and every address checked: one bad address is enough.
    @Test func aNameIsJudgedByEveryAddressItResolvesTo() async throws {
        let table: [String: [String]] = [
            "good.test": ["127.0.0.1"], "mixed.test": ["127.0.0.1", "169.254.169.254"],
            "mapped.test": ["::ffff:a9fe:a9fe"], "nat64.test": ["2001:db8::1", "64:ff9b::a9fe:a9fe"],
        ]
        let resolver: @Sendable (String) -> [IPAddress] = { table[$0, default: []].compactMap(IPAddress.init(literal:)) }
        try await AddressGuard.$resolverOverride.withValue(resolver) {
            let good = try await AddressGuard.destination(host: "good.test", policy: OutboundPolicy())
            #expect(good == .resolved([try #require(IPAddress(literal: "127.0.0.1"))]))
            for host in ["mixed.test", "mapped.test", "nat64.test"] {
                await #expect(throws: OutboundError.self, "\(host)") {
                    _ = try await AddressGuard.destination(host: host, policy: OutboundPolicy())
                }
            }
            await #expect(throws: OutboundError.unresolvable("nowhere.test")) {
                _ = try await AddressGuard.destination(host: "nowhere.test", policy: OutboundPolicy())
            }
        }
    }

    /// Names the system resolver reads as numbers (decimal, hex, octal, a trailing dot) are
    /// refused too: the guard looks at what they resolve to.
    @Test(arguments: ["http://2852039166/", "http://0xa9fea9fe/", "http://0251.0376.0251.0376/", "http://169.254.43518/"])
    func numericNamesAreResolvedThenRefused(_ url: String) async throws {
        let client = OutboundHTTP.makeClient()
        let http = OutboundHTTP(client: client)
        await #expect(throws: OutboundError.self, "\(url)") { _ = try await http.request(url, timeout: .seconds(1)) }
        try await client.shutdown()
    }

    /// The request goes to the address the guard checked: the name is resolved once (here
    /// by a resolver only the guard consults), never again by the HTTP client, and the Host
    /// header still carries the name.
    @Test func theRequestGoesToTheCheckedAddressWithItsHostName() async throws {
        let router = Router()
        router.get("host") { request, _ in request.head.authority ?? "" }
        let server = try await LiveServer.start(router: router)
        let client = OutboundHTTP.makeClient()
        let http = OutboundHTTP(client: client)
        do {
            // `rebind.test` does not exist for the system resolver: only a pinned
            // connection reaches the server.
            let resolver: @Sendable (String) -> [IPAddress] = { host in
                host == "rebind.test" ? [IPAddress(literal: "127.0.0.1")].compactMap { $0 } : []
            }
            let response = try await AddressGuard.$resolverOverride.withValue(resolver) {
                try await http.request("http://rebind.test:\(server.port)/host", timeout: .seconds(10))
            }
            #expect(response.status == 200)
            #expect(String(buffer: response.body) == "rebind.test:\(server.port)")
        } catch {
            Issue.record("the pinned request failed: \(OutboundHTTP.describe(error))")
        }
        try await client.shutdown()
        await server.stop()
    }

    /// A name's addresses are tried in turn while none can be connected to, as an unguarded
    /// client would: `localhost` resolves to ::1 first, and a target on 127.0.0.1 only must
    /// still answer. (127.0.0.3 listens on nothing, so it refuses.)
    @Test func aNameFallsBackToItsNextCheckedAddress() async throws {
        let router = Router()
        router.get("host") { request, _ in request.head.authority ?? "" }
        let server = try await LiveServer.start(router: router)
        let client = OutboundHTTP.makeClient()
        let http = OutboundHTTP(client: client)
        let resolver: @Sendable (String) -> [IPAddress] = { _ in
            ["127.0.0.3", "127.0.0.1"].compactMap(IPAddress.init(literal:))
        }
        do {
            let response = try await AddressGuard.$resolverOverride.withValue(resolver) {
                try await http.request("http://twice.test:\(server.port)/host", timeout: .seconds(10))
            }
            #expect(response.status == 200 && String(buffer: response.body) == "twice.test:\(server.port)")
        } catch {
            Issue.record("the second address was not tried: \(OutboundHTTP.describe(error))")
        }
        try await client.shutdown()
        await server.stop()
    }

    /// Pinning keeps TLS checks on the name. The server listens on 127.0.0.2 with a
    /// certificate for localhost and 127.0.0.1; names reach it only through the guard's
    /// resolver. As localhost it is accepted; as a name the certificate does not hold it is
    /// refused, so neither the pinned address nor an IP match stands in for the name.
    @Test(.enabled(if: ExternalServer.shouldRun(needing: "openssl")))
    func tlsIsVerifiedAgainstTheHostName() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cluster = try await KubernetesStandIn.start(in: folder, tokens: ["t"], host: "127.0.0.2")
        let client = OutboundHTTP.makeClient()
        let http = OutboundHTTP(client: client)
        let resolver: @Sendable (String) -> [IPAddress] = { _ in [IPAddress(literal: "127.0.0.2")].compactMap { $0 } }
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(cluster.pki.caCertificate))
            let port = cluster.tokenPort
            try await AddressGuard.$resolverOverride.withValue(resolver) {
                let byName = try await http.request("https://localhost:\(port)/version", timeout: .seconds(10), tls: tls)
                #expect(byName.status < 500)
                let refused = await #expect(throws: (any Error).self) {
                    _ = try await http.request("https://other.test:\(port)/version", timeout: .seconds(10), tls: tls)
                }
                let reason = refused.map(OutboundHTTP.describe) ?? ""
                #expect(reason.contains("TLS") && reason.contains("ertificate"), "\(reason)")
            }
        } catch {
            Issue.record("TLS by name failed: \(OutboundHTTP.describe(error))")
        }
        try await client.shutdown()
        await cluster.stop()
    }

    /// The cache of pinned clients stays within its capacity, and a client evicted while a
    /// request holds it keeps working until that request ends, then is shut down.
    @Test func pinnedClientsAreBoundedAndOutliveEvictionWhileHeld() async throws {
        let router = Router()
        router.get("ok") { _, _ in "ok" }
        let server = try await LiveServer.start(router: router)
        let cache = PinnedClients(capacity: 1)
        let loopback = try #require(IPAddress(literal: "127.0.0.1"))
        do {
            try await cache.withClient(host: "first.test", address: loopback) { first in
                try await cache.withClient(host: "second.test", address: loopback) { _ in
                    #expect(cache.openCount == 2)  // `first` is evicted but still held.
                }
                let response = try await first.execute(HTTPClientRequest(url: "http://first.test:\(server.port)/ok"),
                                                       timeout: .seconds(10))
                #expect(response.status == .ok)
            }
            #expect(cache.openCount == 1)
            try await cache.withClient(host: "third.test", address: loopback) { _ in }
            #expect(cache.openCount == 1)
        } catch {
            Issue.record("\(error)")
        }
        try await cache.shutdown()
        await server.stop()
    }
}
