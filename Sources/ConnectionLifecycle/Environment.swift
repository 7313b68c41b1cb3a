import Foundation

/// A named group of connections (production, staging, a team's): a connection may belong to
/// several, and deleting an environment never deletes its connections.
public struct Environment: Sendable, Hashable, Identifiable {
    public var id: UUID
    public var name: String
    public var description: String?
    public var owner: UUID?
    public var metadata: [String: JSONValue]
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: UUID = UUID(), name: String, description: String? = nil, owner: UUID? = nil,
                metadata: [String: JSONValue] = [:], createdAt: Date, updatedAt: Date) {
        self.id = id
        self.name = name
        self.description = description
        self.owner = owner
        self.metadata = metadata
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
