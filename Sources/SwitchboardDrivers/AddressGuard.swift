import Foundation

/// An address as the socket layer connects to it: 4 or 16 bytes. A zone (`%eth0`, a scope
/// id) is not part of it: it picks an interface, not a different destination.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// A numeric literal as `inet_pton` reads it (dotted quad, or IPv6 without brackets).
    /// Zones are refused here: callers that accept them strip them on purpose.
    public init?(literal: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            bytes = withUnsafeBytes(of: v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 {
            bytes = withUnsafeBytes(of: v6) { Array($0) }
            return
        }
        return nil
    }

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The address a resolver entry points at; nil for families other than IPv4 and IPv6.
    init?(_ address: UnsafePointer<sockaddr>) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) } }
        case AF_INET6:
            // sin6_scope_id (the zone) is left behind on purpose.
            bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) } }
        default:
            return nil
        }
    }

    public var isIPv4: Bool { bytes.count == 4 }

    /// The canonical numeric spelling, without brackets or zone.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard written != nil else { return bytes.map { String($0, radix: 16) }.joined(separator: ":") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The IPv4 address an IPv6 address carries to an IPv4 host: IPv4-mapped
    /// (::ffff:a.b.c.d, which a dual-stack socket connects to over IPv4), IPv4-compatible
    /// (::a.b.c.d, deprecated but still accepted by some stacks) and NAT64 (64:ff9b::/96 and
    /// the local-use 64:ff9b:1::/48, where a translator forwards to the IPv4 address).
    var embeddedIPv4: [UInt8]? {
        guard bytes.count == 16 else { return nil }
        let tail = Array(bytes[12..<16])
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return tail }
        if bytes[0..<12].allSatisfy({ $0 == 0 }) { return tail }
        if bytes[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] { return tail }
        if bytes[0..<6] == [0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01] { return tail }
        return nil
    }
}

/// Keeps outbound requests away from link-local and cloud metadata addresses. It decides on
/// the addresses a connection would actually be made to (bytes, zones ignored), never on
/// the text of the url, and hands back the address to connect to so that a second
/// resolution cannot answer differently (DNS rebinding).
enum AddressGuard {
    /// Where a request may connect.
    enum Destination: Equatable {
        /// The url names this address itself: nothing to resolve.
        case literal(IPAddress)
        /// The host name's addresses, all allowed, in the resolver's order (duplicates
        /// dropped): connect to the first that answers.
        case resolved([IPAddress])
        /// Link-local targets are allowed: the name is resolved when connecting.
        case unchecked
    }

    /// Where a request to `host` (as a URL spells it, brackets allowed) may connect: the
    /// literal itself, or the host name's addresses when every one is allowed.
    static func destination(host rawHost: String, policy: OutboundPolicy) async throws -> Destination {
        let host = rawHost.hasPrefix("[") && rawHost.hasSuffix("]") ? String(rawHost.dropFirst().dropLast()) : rawHost
        // A zone only makes sense for link-local targets, and `%` is how the first bypass
        // slipped past the literal check: refuse it before anything resolves it.
        if host.contains("%") { throw OutboundError.zoneIdentifier(host) }
        if let literal = IPAddress(literal: host) {
            if !policy.allowLinkLocal, isBlocked(literal) {
                throw OutboundError.blockedAddress(host: host, address: literal.description)
            }
            return .literal(literal)
        }
        guard !policy.allowLinkLocal else { return .unchecked }
        let addresses = await resolve(host)
        guard !addresses.isEmpty else { throw OutboundError.unresolvable(host) }
        if let blocked = addresses.first(where: isBlocked) {
            throw OutboundError.blockedAddress(host: host, address: blocked.description)
        }
        var seen = Set<IPAddress>()
        return .resolved(addresses.filter { seen.insert($0).inserted })
    }

    /// Whether `text` (a numeric address, zone allowed) is refused: for tests and callers
    /// that hold text. Anything that is not a numeric address is not blocked here.
    static func isBlocked(_ text: String) -> Bool {
        let unbracketed = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        let address = unbracketed.split(separator: "%", maxSplits: 1).first.map(String.init) ?? unbracketed
        return IPAddress(literal: address).map(isBlocked) ?? false
    }

    static func isBlocked(_ address: IPAddress) -> Bool {
        let bytes = address.bytes
        if bytes.count == 4 { return isBlockedIPv4(bytes) }
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return true }  // fe80::/10
        if metadataIPv6.contains(bytes) { return true }
        if let v4 = address.embeddedIPv4 { return isBlockedIPv4(v4) }
        return false
    }

    /// fd00:ec2::254 (AWS) and fd20:ce::254 (Google Cloud): instance metadata over IPv6.
    static let metadataIPv6: Set<[UInt8]> = [
        [0xFD, 0x00, 0x0E, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54],
        [0xFD, 0x20, 0x00, 0xCE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54],
    ]

    /// 169.254.0.0/16 (link-local: AWS, Azure, GCP, OpenStack metadata), 100.100.100.200
    /// (Alibaba Cloud's metadata) and 168.63.129.16 (Azure's WireServer, which hands a VM
    /// its configuration), both outside the link-local range.
    static func isBlockedIPv4(_ bytes: [UInt8]) -> Bool {
        (bytes[0] == 169 && bytes[1] == 254) || bytes == [100, 100, 100, 200] || bytes == [168, 63, 129, 16]
    }

    /// Answers in place of the system resolver: tests use it to show that a request goes to
    /// the address the guard checked, whatever another lookup of the name would say.
    @TaskLocal static var resolverOverride: (@Sendable (String) -> [IPAddress])?

    /// The host's addresses through the system resolver, off the cooperative pool.
    static func resolve(_ host: String) async -> [IPAddress] {
        if let resolverOverride { return resolverOverride(host) }
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else {
                    continuation.resume(returning: [])
                    return
                }
                defer { freeaddrinfo(first) }
                var addresses: [IPAddress] = []
                var cursor: UnsafeMutablePointer<addrinfo>? = first
                while let entry = cursor {
                    if let address = entry.pointee.ai_addr, let parsed = IPAddress(address) { addresses.append(parsed) }
                    cursor = entry.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }
}
