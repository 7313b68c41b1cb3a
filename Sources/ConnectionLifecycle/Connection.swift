import Foundation

/// A tracked connection: what it points at and where it is in the lifecycle.
public struct Connection: Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var description: String?
    public var url: String?
    public var kind: String
    public var type: String
    public var subType: String
    public var status: ConnectionStatus
    public var credentialId: UUID?
    public var owner: UUID?
    public var metadata: [String: JSONValue]
    /// The identity of what the connection points at (see `Fingerprint`): one live
    /// connection per owner and fingerprint. `nil` for rows stored before fingerprints.
    public var fingerprint: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var deletedAt: Date?
    /// Compare-and-set token: bumped by every stored change.
    public var version: Int64
    /// Who made the change that set the current status.
    public var statusChangedBy: ActorRole
    /// The connection whose session found this one (a cluster that found its Prometheus).
    public var parentId: UUID?

    public init(
        id: UUID = UUID(), name: String, description: String? = nil, url: String? = nil,
        kind: String, type: String, subType: String, status: ConnectionStatus,
        credentialId: UUID? = nil, owner: UUID? = nil, metadata: [String: JSONValue] = [:],
        fingerprint: String? = nil, createdAt: Date, updatedAt: Date, deletedAt: Date? = nil,
        version: Int64 = 1, statusChangedBy: ActorRole = .user, parentId: UUID? = nil
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
        self.fingerprint = fingerprint
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
        self.version = version
        self.statusChangedBy = statusChangedBy
        self.parentId = parentId
    }
}

/// One entry of the append-only event log: a status change and why.
public struct LifecycleEvent: Sendable, Hashable {
    /// Position in the log, assigned by the store (0 until stored).
    public var sequence: Int64
    public var connectionId: UUID
    /// `nil` for the event that created the connection.
    public var from: ConnectionStatus?
    public var to: ConnectionStatus
    /// `system`, or the user who asked.
    public var actor: String
    public var actorRole: ActorRole
    public var reason: String?
    public var correlationId: UUID
    public var at: Date

    public init(
        sequence: Int64 = 0, connectionId: UUID, from: ConnectionStatus?, to: ConnectionStatus,
        actor: String, actorRole: ActorRole, reason: String?, correlationId: UUID, at: Date
    ) {
        self.sequence = sequence
        self.connectionId = connectionId
        self.from = from
        self.to = to
        self.actor = actor
        self.actorRole = actorRole
        self.reason = reason
        self.correlationId = correlationId
        self.at = at
    }
}

extension LifecycleEvent {
    /// The status a connection must have if `events` (oldest first) are its whole log.
    /// Returns `nil` when the log is empty or broken (an event that does not start where
    /// the previous one ended).
    public static func replay(_ events: [LifecycleEvent]) -> ConnectionStatus? {
        var status: ConnectionStatus?
        for event in events {
            guard event.from == status else { return nil }
            status = event.to
        }
        return status
    }
}

extension UUID {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lowercase text: how ids appear on the wire, in every store and in logs. Spelled out
    /// directly (every request spells some), not `uuidString` then `lowercased()`.
    public var lowercasedString: String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { text in
                var at = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        text[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    text[at] = Self.hexDigits[Int(byte >> 4)]
                    text[at + 1] = Self.hexDigits[Int(byte & 0x0F)]
                    at += 2
                }
                return at
            }
        }
    }

    /// The canonical form (8-4-4-4-12 hex digits, either case), which is all
    /// `UUID(uuidString:)` accepts, read without Foundation's `sscanf` (ids arrive in the
    /// path of most requests).
    public init?(canonical text: String) {
        var text = text
        let parsed: uuid_t? = text.withUTF8 { utf8 -> uuid_t? in
            guard utf8.count == 36 else { return nil }
            var bytes = [UInt8](repeating: 0, count: 16)
            var byte = 0
            var index = 0
            while index < 36 {
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    guard utf8[index] == UInt8(ascii: "-") else { return nil }
                    index += 1
                    continue
                }
                guard let high = Self.hexValue(utf8[index]), let low = Self.hexValue(utf8[index + 1]) else { return nil }
                bytes[byte] = high << 4 | low
                byte += 1
                index += 2
            }
            return (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                    bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15])
        }
        guard let parsed else { return nil }
        self.init(uuid: parsed)
    }

    private static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension Date {
    /// The same instant to the whole millisecond: the precision every store keeps, so a
    /// timestamp written and read back compares equal.
    public var truncatedToMilliseconds: Date {
        Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }
}

extension Sequence<UInt8> {
    /// Lowercase hexadecimal digits (digests in fingerprints and key ids).
    public var hexadecimal: String {
        // Every request's token is hashed and spelled out: a table, not String(format:).
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
