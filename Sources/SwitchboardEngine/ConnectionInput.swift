import ConnectionLifecycle
import Foundation

/// What a caller supplies to create a connection. `type`, `subType` and `status` default to
/// the kind's definition.
public struct NewConnection: Sendable, Hashable {
    public var id: UUID?
    public var name: String
    public var description: String?
    public var url: String?
    public var kind: String
    public var type: String?
    public var subType: String?
    public var status: ConnectionStatus?
    public var credentialId: UUID?
    public var owner: UUID?
    public var metadata: [String: JSONValue]

    public init(
        id: UUID? = nil, name: String, description: String? = nil, url: String? = nil, kind: String,
        type: String? = nil, subType: String? = nil, status: ConnectionStatus? = nil,
        credentialId: UUID? = nil, owner: UUID? = nil, metadata: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.url = url
        self.kind = kind
        self.type = type
        self.subType = subType
        self.status = status
        self.credentialId = credentialId
        self.owner = owner
        self.metadata = metadata
    }
}

extension NewConnection {
    /// Where the connection points: `url`, or when that is left out or empty, the address
    /// Meshery's clients keep in metadata (see `ConnectionAddress`).
    public var address: ConnectionAddress? {
        if let url, !url.isEmpty { return ConnectionAddress(url: url, field: "url") }
        return ConnectionAddress.inMetadata(metadata)
    }
}

/// A connection's address and the input member it came from (named in a refusal).
/// Meshery's `ConnectionPayload` has no top-level `url`: its clients keep the address in
/// `metadata` (`url`; `server_location` for Meshery servers and older Prometheus and Grafana
/// payloads). Reading it here, where input becomes a connection, makes such a connection
/// verifiable and subject to the one-connection-per-target rule on every way in.
public struct ConnectionAddress: Sendable, Hashable {
    public var url: String
    public var field: String

    /// Metadata keys that hold the address, in the order they are tried.
    public static let metadataKeys = ["url", "server_location"]

    public static func inMetadata(_ metadata: [String: JSONValue]) -> ConnectionAddress? {
        for key in metadataKeys {
            if case .string(let text)? = metadata[key], !text.trimmingCharacters(in: .whitespaces).isEmpty {
                return ConnectionAddress(url: text, field: "metadata.\(key)")
            }
        }
        return nil
    }
}

/// Field changes to an existing connection; `nil` leaves a field as it is.
public struct ConnectionPatch: Sendable, Hashable {
    public var name: String?
    public var description: String?
    public var url: String?
    public var credentialId: UUID?
    public var metadata: [String: JSONValue]?
    /// The input member `url` was read from (`metadata.url` when `resolvingAddress` took it there).
    var urlField = "url"

    public init(name: String? = nil, description: String? = nil, url: String? = nil,
                credentialId: UUID? = nil, metadata: [String: JSONValue]? = nil) {
        self.name = name
        self.description = description
        self.url = url
        self.credentialId = credentialId
        self.metadata = metadata
    }

    public var isEmpty: Bool { self == ConnectionPatch() }

    /// The patch with its address read as `NewConnection.address` reads it: a `url` left out
    /// (or empty) beside metadata that names an address takes that address, so a Meshery client
    /// that moves the target in metadata moves the connection.
    var resolvingAddress: ConnectionPatch {
        guard url?.isEmpty ?? true, let metadata, let address = ConnectionAddress.inMetadata(metadata) else { return self }
        var resolved = self
        resolved.url = address.url
        resolved.urlField = address.field
        return resolved
    }

    /// Names of the fields this patch would change on `connection`.
    func changedFields(of connection: Connection) -> [String] {
        var fields: [String] = []
        if let name, name != connection.name { fields.append("name") }
        if let description, description != connection.description { fields.append("description") }
        if let url, url != connection.url { fields.append("url") }
        if let credentialId, credentialId != connection.credentialId { fields.append("credentialId") }
        if let metadata, metadata != connection.metadata { fields.append("metadata") }
        return fields
    }

    func apply(to connection: inout Connection) {
        if let name { connection.name = name }
        if let description { connection.description = description }
        if let url { connection.url = url }
        if let credentialId { connection.credentialId = credentialId }
        if let metadata { connection.metadata = metadata }
    }
}

/// Limits every way in (API, CLI, discovery) shares; they match Meshery's schema, and
/// count as its `maxLength` does (Unicode scalars, so an accent typed as a combining mark
/// counts as two).
public enum ConnectionRules {
    static let maxName = 255
    static let maxDescription = 1000
    static let maxURL = 2048
    public static let maxReason = 1000

    static func check(name: String?, description: String?, url: String?, urlField: String = "url") throws {
        if let name {
            if name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw EngineError.invalid(field: "name", detail: "must not be empty")
            }
            try check(name, field: "name", limit: maxName)
            try checkDisplayable(name, field: "name")
        }
        if let description { try check(description, field: "description", limit: maxDescription) }
        if let url, !url.isEmpty {
            try check(url, field: urlField, limit: maxURL)
            guard let parsed = URL(string: url), parsed.scheme != nil, let host = parsed.host else {
                throw EngineError.invalid(field: urlField, detail: "'\(url)' is not an absolute URL such as https://prometheus.example:9090")
            }
            try checkTarget(parsed, host: host, field: urlField)
        }
    }

    /// A url's user info would be stored and shown in clear, and a zone id (`[fe80::1%25eth0]`)
    /// names a link-local target, which is how the metadata-address guard was once bypassed.
    private static func checkTarget(_ url: URL, host: String, field: String) throws {
        if url.user != nil || url.password != nil {
            throw EngineError.invalid(field: field, detail: "must not hold a user name or password (user:password@): it would be stored and shown in clear; put the secret in a credential and give the connection its credentialId")
        }
        // `host` is percent-decoded: `%25` spells the `%` that starts an IPv6 zone id.
        if host.contains("%") {
            throw EngineError.invalid(field: field, detail: "'\(host)' holds an IPv6 zone id (%...) or a percent-encoded host name; give the address without the zone, or the host name spelled out")
        }
    }

    private static func check(_ text: String, field: String, limit: Int) throws {
        let length = text.unicodeScalars.count
        if length > limit {
            throw EngineError.invalid(field: field, detail: "is \(length) characters long; the limit is \(limit)")
        }
    }

    /// Names are shown in terminals, tables and the web page: a control character (C0, DEL,
    /// C1) could move the cursor, rewrite a line or send a terminal an escape sequence, and a
    /// bidirectional override or isolate (U+202A-U+202E, U+2066-U+2069) could show
    /// `admin\u{202E}gnp.exe` as `adminexe.png`. No name needs either.
    public static func checkDisplayable(_ text: String, field: String) throws {
        guard let scalar = text.unicodeScalars.first(where: isHidden) else { return }
        throw EngineError.invalid(field: field, detail: "holds \(String(format: "U+%04X", scalar.value)), a control or bidirectional override character, which would change how it shows in terminals and pages; remove it")
    }

    /// Control characters (C0, DEL, C1) and bidirectional embeddings, overrides and isolates.
    public static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// Probe and session settings in metadata are numbers in range (a member's intervals
    /// no shorter than `ConnectionSettings`' floor); anything else is refused, not ignored.
    static func check(settings metadata: [String: JSONValue], by principal: Principal) throws {
        if let refusal = ConnectionSettings.refusal(in: metadata, member: !principal.isAdmin) {
            throw EngineError.invalid(field: refusal.field, detail: refusal.detail)
        }
    }

    public static func check(reason: String?) throws {
        if let reason { try check(reason, field: "reason", limit: maxReason) }
    }
}
