import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Which targets outbound requests may reach.
public struct OutboundPolicy: Sendable, Hashable {
    /// Allow link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10,
    /// fd00:ec2::254, fd20:ce::254, 100.100.100.200, 168.63.129.16, and IPv6 forms that carry them: see
    /// `AddressGuard`). Off by default: a connection's url must not become a way to read a
    /// cloud provider's instance credentials. Zone ids are refused either way.
    public var allowLinkLocal: Bool

    public init(allowLinkLocal: Bool = false) {
        self.allowLinkLocal = allowLinkLocal
    }
}

/// A response of an outbound request, body included.
public struct OutboundResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    public var bodyData: Data { Data(body.readableBytesView) }
}

/// Every request Switchboard sends to a target goes through here: the address guard, a
/// deadline for the whole exchange, and redirects followed only within the same host.
public struct OutboundHTTP: Sendable {
    public let client: HTTPClient
    public let policy: OutboundPolicy
    /// Sent with every request that sets none, so a target's log says which server (and
    /// which replica of it) asked.
    public let userAgent: String
    static let maxRedirects = 3

    public init(client: HTTPClient, policy: OutboundPolicy = OutboundPolicy(), userAgent: String = "switchboard") {
        self.client = client
        self.policy = policy
        self.userAgent = userAgent
    }

    /// The HTTP client checks and sessions share. Redirects are handled here (same host
    /// only); a connection that cannot be established fails at once instead of being retried
    /// until the deadline (the monitor's damping absorbs one-off failures, and a refused
    /// target should say so quickly).
    /// `readTimeout`: how long a response may go without a byte (for streams that must notice a dead peer).
    /// `dnsOverride`: host names this client connects to a fixed address (see `PinnedClients`).
    public static func makeClient(readTimeout: TimeAmount? = nil, dnsOverride: [String: String] = [:]) -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        if let readTimeout { configuration.timeout.read = readTimeout }
        configuration.dnsOverride = dnsOverride
        configuration.connectionPool.retryConnectionEstablishment = false
        // Sessions hold watches open (three per Kubernetes connection): several connections
        // to one API server would use up AsyncHTTPClient's default of 8 per host and starve
        // every check behind them.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// A GET (or `method`) with `headers`; redirects to the same scheme, host and port are
    /// followed, others refused. `maxBody` caps how much of the body is read.
    public func request(_ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [],
                        timeout: Duration, tls: TLSConfiguration? = nil,
                        maxBody: Int = 8 << 20) async throws -> OutboundResponse {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        var current = url
        for _ in 0...Self.maxRedirects {
            guard let target = URL(string: current), let host = target.host, let scheme = target.scheme?.lowercased(),
                  scheme == "http" || scheme == "https" else {
                throw OutboundError.invalidURL(current)
            }
            var request = HTTPClientRequest(url: current)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if !request.headers.contains(name: "User-Agent") { request.headers.add(name: "User-Agent", value: userAgent) }
            request.tlsConfiguration = tls
            let (response, body) = try await withCheckedClient(for: current) { client in
                let response = try await client.execute(request, deadline: deadline)
                return (response, try await response.body.collect(upTo: maxBody))
            }
            let status = Int(response.status.code)
            guard (300..<400).contains(status), status != 304, let location = response.headers.first(name: "Location") else {
                return OutboundResponse(status: status, headers: response.headers, body: body)
            }
            guard let next = URL(string: location, relativeTo: target)?.absoluteURL else {
                throw OutboundError.invalidURL(location)
            }
            guard next.scheme?.lowercased() == scheme, next.host == host, next.port == target.port else {
                throw OutboundError.crossHostRedirect(from: current, to: next.absoluteString)
            }
            current = next.absoluteString
        }
        throw OutboundError.tooManyRedirects(url)
    }

    /// Runs `body` with a client that may only reach `url`'s host at an address the guard
    /// checked: a literal address goes through `client` as it is; a host name is resolved
    /// once, every address checked, and the request pinned to one of them (Host header, SNI
    /// and certificate checks keep the name), so a second lookup cannot lead elsewhere. When
    /// an address cannot be connected to, the next is tried, as a client without the guard
    /// would: `localhost` resolves to ::1 first, and a target listening on 127.0.0.1 only
    /// must still answer.
    public func withCheckedClient<T: Sendable>(for url: String, isolation: isolated (any Actor)? = #isolation,
                                               _ body: (HTTPClient) async throws -> T) async throws -> T {
        guard let target = URL(string: url), let host = target.host, !host.isEmpty,
              let scheme = target.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw OutboundError.invalidURL(url)
        }
        switch try await AddressGuard.destination(host: host, policy: policy) {
        case .literal, .unchecked: return try await body(client)
        case .resolved(let addresses):
            for (index, address) in addresses.enumerated() {
                do {
                    return try await PinnedClients.shared.withClient(host: host, address: address, body)
                } catch where index < addresses.count - 1 && Self.neverConnected(error) {
                    continue
                }
            }
            throw OutboundError.unresolvable(host)  // Not reached: the last address's error is thrown.
        }
    }

    /// Whether the request failed before a connection was made (nothing was sent), so
    /// another address of the same host may be tried.
    static func neverConnected(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        let text = String(describing: error)
        return ["connectionRefused", "Connection refused", "ECONNREFUSED", "Network is unreachable", "ENETUNREACH",
                "No route to host", "EHOSTUNREACH", "Cannot assign requested address", "EADDRNOTAVAIL"]
            .contains { text.contains($0) }
    }

    /// A short reason a person can act on: refused, timed out, TLS, DNS, blocked address.
    public static func describe(_ error: any Error) -> String {
        if let error = error as? OutboundError { return error.description }
        if let error = error as? DriverError { return error.description }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout: return "timed out"
            case .remoteConnectionClosed: return "the server closed the connection"
            case .bodyLengthMismatch: return "the server sent a malformed body"
            default: break
            }
            let text = String(describing: error)
            if text.lowercased().contains("toomanybytes") || text.contains("responseBodyTooLarge") { return "the answer is too large" }
            return text
        }
        if error is NIOTooManyBytesError { return "the answer is too large" }
        if let error = error as? NIOSSLError { return "TLS error: \(error)" }
        if let error = error as? BoringSSLError { return "TLS error: \(error)" }
        if let error = error as? NIOSSLExtraError { return "TLS error: \(error)" }
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("ECONNREFUSED") {
            return "connection refused"
        }
        if text.contains("handshake") || text.contains("certificate") || text.contains("SSL") { return "TLS error: \(text)" }
        if text.contains("NXDOMAIN") || text.contains("resolve") || text.contains("DNS") { return "name resolution failed: \(text)" }
        if text.contains("connectTimeout") || text.contains("deadlineExceeded") { return "timed out" }
        return text
    }
}

public enum OutboundError: Error, CustomStringConvertible, Sendable, Equatable {
    case blockedAddress(host: String, address: String)
    case crossHostRedirect(from: String, to: String)
    case tooManyRedirects(String)
    case invalidURL(String)
    case unresolvable(String)
    case zoneIdentifier(String)

    public var description: String {
        switch self {
        case .blockedAddress(let host, let address):
            "refused to contact \(host) (\(address)): link-local and cloud metadata addresses are blocked (allow them with --allow-link-local-targets)"
        case .crossHostRedirect(let from, let to): "refused a redirect from \(from) to another host (\(to))"
        case .tooManyRedirects(let url): "\(url) redirected more than \(OutboundHTTP.maxRedirects) times"
        case .invalidURL(let url): "'\(url)' is not an http or https URL"
        case .unresolvable(let host): "name resolution failed for \(host)"
        case .zoneIdentifier(let host):
            "refused to contact \(host): IPv6 zone ids (%...) are not accepted in a target's address; use a routable address or a host name"
        }
    }
}
