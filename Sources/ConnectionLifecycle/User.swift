import Foundation

/// Someone who uses the API. Admins see and change everything; members see and change what
/// they own; a server (another Switchboard registered here as a spoke) may only register,
/// heartbeat and deregister its own peer-server connections.
public struct User: Sendable, Hashable, Identifiable {
    public enum Role: String, Sendable, Hashable, Codable, CaseIterable {
        case admin, member, server
    }

    public var id: UUID
    public var name: String
    public var role: Role
    public var createdAt: Date

    public init(id: UUID = UUID(), name: String, role: Role, createdAt: Date) {
        self.id = id
        self.name = name
        self.role = role
        self.createdAt = createdAt
    }
}

/// A bearer token as stored: only its SHA-256, never the token.
public struct APIToken: Sendable, Hashable, Identifiable {
    public var id: UUID
    public var userId: UUID
    public var name: String?
    public var hash: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?

    public init(id: UUID = UUID(), userId: UUID, name: String? = nil, hash: String, createdAt: Date,
                expiresAt: Date? = nil, revokedAt: Date? = nil) {
        self.id = id
        self.userId = userId
        self.name = name
        self.hash = hash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }
}
