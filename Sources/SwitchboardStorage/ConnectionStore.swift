import ConnectionLifecycle
import Foundation

/// Where connections and their event log live. Backend-neutral: the SQLite store is the
/// embedded default, and a PostgreSQL store implements the same contract.
///
/// Every status change is a compare-and-set on the row's `version` that appends its event
/// in the same transaction: either both are stored or neither is.
public protocol ConnectionStore: CredentialStore, EnvironmentStore, UserStore {
    /// Stores a new connection (version 1), the event that created it and, when given, the
    /// credential it owns, in one transaction. Throws `StoreError.duplicateFingerprint` when
    /// the owner already has a live connection with the same fingerprint.
    func insert(_ connection: Connection, event: LifecycleEvent, credential: Credential?) async throws

    /// Stores many new connections and their creation events in one transaction.
    func insert(contentsOf items: [(Connection, LifecycleEvent)]) async throws

    func connection(id: UUID) async throws -> Connection?

    /// A connection with its health record and environments, read together (what a client
    /// sees of one connection).
    func connectionDetails(id: UUID) async throws -> ConnectionDetails?

    /// Writes `connection` if the stored row still has `expectedVersion`, bumping the version,
    /// and appends `event` in the same transaction. Throws `StoreError.versionConflict` when
    /// another change got there first and `StoreError.notFound` when there is no such row.
    /// Returns the connection as stored.
    func update(_ connection: Connection, expectedVersion: Int64, event: LifecycleEvent?,
                credential: Credential?) async throws -> Connection

    /// Several changes in one transaction, each its own compare-and-set with its event.
    /// Answers those stored; one whose version moved on (or that would duplicate a
    /// fingerprint) is left out and nothing of it is written.
    func updateMany(_ moves: [StoredMove]) async throws -> [UUID: Connection]

    /// The connections with these ids that exist.
    func connections(ids: [UUID]) async throws -> [UUID: Connection]

    /// The owner's live (not deleted) connection with this fingerprint.
    func liveConnection(owner: UUID?, fingerprint: String) async throws -> Connection?

    /// The owner's live connection with this fingerprint, else its latest tombstone (a
    /// peer's heartbeat is answered "gone" rather than "unknown" once it was deleted).
    func latestConnection(owner: UUID?, fingerprint: String) async throws -> Connection?

    /// Live connections stored before fingerprints existed (none once backfilled), in pages.
    func connectionsWithoutFingerprint(after afterId: UUID?, limit: Int) async throws -> [Connection]

    /// Live connections whose metadata names `parentId` as `parentConnectionId`.
    func children(of parentId: UUID) async throws -> [Connection]

    /// Deleted connections with live children not yet marked `parentDeleted` (a crash
    /// between a parent's deletion and the marking of its children leaves some).
    func deletedParentsWithUnmarkedChildren() async throws -> [UUID]


    /// Filters, sorts and paginates in the database.
    func list(_ query: ConnectionQuery) async throws -> ConnectionListing

    /// A connection's history, newest first.
    func events(connectionId: UUID, page: Int, pageSize: Int) async throws -> EventPage

    /// The event log after `query.after`, oldest first, filtered: what the change stream sends.
    func eventLog(_ query: EventLogQuery) async throws -> [LifecycleEvent]

    /// The newest event's sequence (0 when there is none).
    func latestEventSequence() async throws -> Int64

    /// Throws unless the store can answer queries (for `/readyz`).
    func checkReadiness() async throws

    // MARK: Observed health and collected data

    /// Replaces the health records of the given connections, in one transaction. A record
    /// older than the stored one (by `checkedAt`) is ignored, so batches may land in any order.
    func saveHealth(_ records: [HealthRecord]) async throws

    /// Health records of the given connections (those never checked are absent).
    func health(of ids: [UUID]) async throws -> [UUID: HealthRecord]

    /// Connections the health monitor may probe: registered, connected and disconnected
    /// (the monitor skips admin-made disconnects), in pages of `limit` after `afterId`.
    func probeCandidates(after afterId: UUID?, limit: Int) async throws -> [Connection]

    /// Replaces the value a session keeps under `key`.
    func saveCollectedData(connectionId: UUID, key: String, value: JSONValue, at date: Date) async throws

    /// Everything collected for a connection, by key.
    func collectedData(connectionId: UUID) async throws -> [String: CollectedItem]

    /// Deletes everything collected for a connection (when it is deleted).
    func purgeCollectedData(connectionId: UUID) async throws

    /// Live connections counted by kind and status (for metrics).
    func countsByKindAndStatus() async throws -> [KindStatusCount]

    // MARK: Identity

    /// This server's stable id: made (atomically) the first time it is asked for, the same
    /// id ever after. It lives in the database, so a backup carries it.
    func serverIdentity() async throws -> UUID
}

extension ConnectionStore {
    public func insert(_ connection: Connection, event: LifecycleEvent) async throws {
        try await insert(connection, event: event, credential: nil)
    }

    public func update(_ connection: Connection, expectedVersion: Int64, event: LifecycleEvent?) async throws -> Connection {
        try await update(connection, expectedVersion: expectedVersion, event: event, credential: nil)
    }
}

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
