import Foundation

/// Secret material a connection authenticates with (a kubeconfig's cluster and user, a
/// token, a password). Stores keep `secret` encrypted; the API never returns it.
public struct Credential: Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    /// What the secret holds, e.g. `kubeconfig` or `token`.
    public var type: String
    public var owner: UUID?
    /// Secret values by name (`kubeconfig`, `context`, `token`, `username`, `password`…).
    public var secret: [String: String]
    /// Made for one connection (by discovery, or with it): removed with the last connection
    /// that uses it. A credential created on its own stays until deleted on its own.
    public var ownedByConnection: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: UUID = UUID(), name: String, type: String, owner: UUID? = nil, secret: [String: String],
                ownedByConnection: Bool = false, createdAt: Date, updatedAt: Date) {
        self.ownedByConnection = ownedByConnection
        self.id = id
        self.name = name
        self.type = type
        self.owner = owner
        self.secret = secret
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

extension Credential: CustomStringConvertible, CustomDebugStringConvertible {
    /// Names the secret's keys, never its values, so a credential in a log line or an error
    /// message leaks nothing.
    public var description: String {
        "Credential(\(id.lowercasedString), \(type), \(name), secret keys: \(secret.keys.sorted().joined(separator: ", ")))"
    }

    public var debugDescription: String { description }
}
