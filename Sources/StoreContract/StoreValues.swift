import ConnectionLifecycle
import Foundation

/// One connection as clients see it: the row, its last observed health, its environments.
public struct ConnectionDetails: Sendable, Equatable {
    public var connection: Connection
    public var health: HealthRecord?
    public var environments: [Environment]

    public init(connection: Connection, health: HealthRecord?, environments: [Environment]) {
        self.connection = connection
        self.health = health
        self.environments = environments
    }
}

/// One value a session collected, and when.
public struct CollectedItem: Sendable, Hashable {
    public var value: JSONValue
    public var collectedAt: Date

    public init(value: JSONValue, collectedAt: Date) {
        self.value = value
        self.collectedAt = collectedAt
    }
}

public struct KindStatusCount: Sendable, Hashable {
    public var kind: String
    public var status: ConnectionStatus
    public var count: Int

    public init(kind: String, status: ConnectionStatus, count: Int) {
        self.kind = kind
        self.status = status
        self.count = count
    }
}

public enum StoreError: Error, Sendable, Equatable {
    case notFound(UUID)
    case versionConflict(UUID, expected: Int64)
    case duplicate(UUID)
    /// The owner already has a live connection to the same target (`existing`).
    case duplicateFingerprint(String, existing: UUID)
    /// A credential was to be stored or read but the store has no secrets key.
    case noSecretsKey
    case credentialNotFound(UUID)
    case environmentNotFound(UUID)
    /// Live connections use the credential.
    case credentialInUse(UUID, by: [UUID])
}

extension StoreError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .notFound(let id): "connection \(id.lowercasedString) does not exist"
        case .versionConflict(let id, let expected):
            "connection \(id.lowercasedString) changed concurrently (expected version \(expected))"
        case .duplicate(let id): "connection \(id.lowercasedString) already exists"
        case .duplicateFingerprint(let fingerprint, let existing):
            "connection \(existing.lowercasedString) already points at the same target (\(fingerprint))"
        case .noSecretsKey: "this store has no secrets key, so it cannot keep credentials"
        case .credentialNotFound(let id): "credential \(id.lowercasedString) does not exist"
        case .environmentNotFound(let id): "environment \(id.lowercasedString) does not exist"
        case .credentialInUse(let id, let users):
            "credential \(id.lowercasedString) is used by \(users.count) connection(s) (\(users.prefix(5).map(\.lowercasedString).joined(separator: ", "))); delete them or give them another credential first"
        }
    }
}

public struct ConnectionListing: Sendable, Hashable {
    public var connections: [Connection]
    /// Rows matching the filters, on all pages.
    public var totalCount: Int
    /// Rows matching the filters, by status.
    public var statusSummary: [ConnectionStatus: Int]

    public init(connections: [Connection], totalCount: Int, statusSummary: [ConnectionStatus: Int]) {
        self.connections = connections
        self.totalCount = totalCount
        self.statusSummary = statusSummary
    }
}

/// Which events the change stream wants: after a sequence, of some connections, kinds or
/// environments, and only those the caller may see.
public struct EventLogQuery: Sendable, Hashable {
    public var after: Int64
    public var limit: Int
    public var connections: [UUID]
    public var kinds: [String]
    public var environments: [UUID]
    /// Only this owner's connections (and those shared with `sharedWith`); `nil`: all.
    public var owner: UUID?
    public var sharedWith: UUID?

    public init(after: Int64, limit: Int = 500, connections: [UUID] = [], kinds: [String] = [],
                environments: [UUID] = [], owner: UUID? = nil, sharedWith: UUID? = nil) {
        self.after = after
        self.limit = limit
        self.connections = connections
        self.kinds = kinds
        self.environments = environments
        self.owner = owner
        self.sharedWith = sharedWith
    }
}

public struct EventPage: Sendable, Hashable {
    public var events: [LifecycleEvent]
    public var totalCount: Int

    public init(events: [LifecycleEvent], totalCount: Int) {
        self.events = events
        self.totalCount = totalCount
    }
}

/// One change of a batch (see `ConnectionStore.updateMany`).
public struct StoredMove: Sendable {
    public var connection: Connection
    public var expectedVersion: Int64
    public var event: LifecycleEvent

    public init(connection: Connection, expectedVersion: Int64, event: LifecycleEvent) {
        self.connection = connection
        self.expectedVersion = expectedVersion
        self.event = event
    }
}
