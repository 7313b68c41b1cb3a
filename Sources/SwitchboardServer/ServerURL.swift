import Foundation

/// Addresses of Switchboard servers given at start (`--advertise-url`, `--hub`), checked
/// before anything starts so that a bad one stops the start with what to fix.
public enum ServerURL {
    /// `text` as an absolute http or https URL with a host and no user info, query or
    /// fragment, without a trailing slash (paths are appended to it). `setting` names the
    /// option in the error.
    public static func parse(_ text: String, setting: String) throws(ServerURLError) -> String {
        let example = "e.g. https://switchboard.example.com:9081"
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw ServerURLError("\(setting) '\(text)' is not a URL; give an absolute address, \(example)")
        }
        guard scheme == "http" || scheme == "https" else {
            throw ServerURLError("\(setting) '\(text)' must start with http:// or https://, \(example)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ServerURLError("\(setting) '\(text)' names no host, \(example)")
        }
        // Others are given this address (or it receives a token): credentials in it would leak.
        guard components.user == nil, components.password == nil else {
            throw ServerURLError("\(setting) '\(text)' must not hold a user name or password; a hub's token goes in --hub-token-file")
        }
        guard components.query == nil, components.fragment == nil else {
            throw ServerURLError("\(setting) '\(text)' must not have a query (?) or fragment (#); paths are added to it")
        }
        var normalized = text
        while normalized.hasSuffix("/") { normalized.removeLast() }
        return normalized
    }

    /// `host:port` of a URL parsed by `parse` (the scheme's port when none is written; an
    /// IPv6 host keeps its brackets).
    public static func hostAndPort(_ url: String) -> String {
        guard let components = URLComponents(string: url), let host = components.host else { return url }
        let port = components.port ?? (components.scheme?.lowercased() == "https" ? 443 : 80)
        return "\(host):\(port)"
    }

    /// Whether `url` is plain http.
    public static func isPlainHTTP(_ url: String) -> Bool {
        URLComponents(string: url)?.scheme?.lowercased() == "http"
    }

    /// The host of a URL, without IPv6 brackets.
    public static func host(of url: String) -> String? {
        guard var host = URLComponents(string: url)?.host else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host
    }

    /// `localhost`, 127.0.0.0/8 or ::1 (also as IPv4-mapped ::ffff:127.x.y.z): traffic that
    /// never leaves the machine.
    public static func isLoopback(host: String) -> Bool {
        var host = host.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        let loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
        let mapped = bytes.prefix(10).allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
        return bytes == loopback || mapped
    }

    /// `0.0.0.0` or `::`: an address to listen on that no other machine can be sent to.
    public static func isUnspecified(host: String) -> Bool {
        var host = host
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0"
    }

    /// `scheme://host:port`, with an IPv6 host in brackets.
    public static func make(scheme: String, host: String, port: Int) -> String {
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(scheme)://\(bracketed):\(port)"
    }
}

/// A server address given at start is not usable; the text says what to give instead.
public struct ServerURLError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }
}
