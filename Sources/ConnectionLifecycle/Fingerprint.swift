import Foundation

/// The identity of what a connection points at, as text: the kind, then the target in a
/// normal form (`prometheus https://prom.example:9090/api`). Two connections of one owner
/// with the same fingerprint are the same thing, so discovery finds instead of duplicating.
/// Kinds whose identity is more than a URL (Kubernetes: API server, CA and user) append
/// their own parts.
public enum Fingerprint {
    public static func make(kind: String, target: String, parts: [String] = []) -> String {
        ([kind, target] + parts).joined(separator: " ")
    }

    /// The fingerprint of a connection known only by its url (`nil` without one).
    public static func of(kind: String, url: String?) -> String? {
        guard let url, !url.isEmpty else { return nil }
        return make(kind: kind, target: normalizedURL(url))
    }

    /// Lowercase scheme and host, no default port, user info, fragment or trailing slash:
    /// `HTTPS://Prom.Example:443/api/` and `https://prom.example/api` are one target.
    public static func normalizedURL(_ text: String) -> String {
        guard var components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)),
              let scheme = components.scheme?.lowercased() else {
            return text
        }
        components.scheme = scheme
        components.host = components.host?.lowercased()
        if (scheme == "https" && components.port == 443) || (scheme == "http" && components.port == 80) {
            components.port = nil
        }
        components.user = nil
        components.password = nil
        components.fragment = nil
        while components.path.hasSuffix("/") { components.path.removeLast() }
        if components.query?.isEmpty == true { components.query = nil }
        return components.string ?? text
    }
}
