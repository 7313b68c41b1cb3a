import ConnectionLifecycle
import Foundation

/// Everything a backend stores, as one type: the narrow protocols below, each one concern.
/// A backend (SQLite, PostgreSQL) implements them all; a service asks only for the part it
/// uses where that keeps it honest.
public typealias ConnectionStore = ConnectionLedger & ConnectionReadModel & ChangeLog & ObservationStore
    & CredentialStore & EnvironmentStore & UserStore & StoreHousekeeping & ReplicaRegistry

/// The writes of connections. Every one is a compare-and-set on the row's `version` that
/// appends its event (and stores the credential it carries) in the same transaction: either
/// all of it is stored or none.
public protocol ConnectionLedger: Sendable {
    /// Stores a new connection (version 1), its creation event and, when given, the credential
    /// it owns. Throws `StoreError.duplicateFingerprint` when the owner already has a live
    /// connection with the same fingerprint, `StoreError.duplicate` for a taken id.
    func insert(_ connection: Connection, event: LifecycleEvent, credential: CredentialWrite?) async throws

    /// Stores many new connections and their creation events in one transaction.
    func insert(contentsOf items: [(Connection, LifecycleEvent)]) async throws

    /// Writes `connection` if the stored row still has `expectedVersion`, bumping the version,
    /// with its event and credential. Throws `StoreError.versionConflict` when another change
    /// got there first, `StoreError.notFound` when there is no such row. Answers the row as stored.
    func update(_ connection: Connection, expectedVersion: Int64, event: LifecycleEvent?,
                credential: CredentialWrite?) async throws -> Connection

    /// Several changes in one transaction, each its own compare-and-set with its event.
    /// Answers those stored; one whose version moved on (or that would duplicate a
    /// fingerprint) is left out and nothing of it is written.
    func updateMany(_ moves: [StoredMove]) async throws -> [UUID: Connection]
}

extension ConnectionLedger {
    public func insert(_ connection: Connection, event: LifecycleEvent) async throws {
        try await insert(connection, event: event, credential: nil)
    }

    public func update(_ connection: Connection, expectedVersion: Int64, event: LifecycleEvent?) async throws -> Connection {
        try await update(connection, expectedVersion: expectedVersion, event: event, credential: nil)
    }
}

/// Reads of connections: single rows, lists with their counts, and the few lookups the
/// services need (by fingerprint, by parent, for the monitor).
public protocol ConnectionReadModel: Sendable {
    func connection(id: UUID) async throws -> Connection?
    /// The connections with these ids that exist.
    func connections(ids: [UUID]) async throws -> [UUID: Connection]
    /// A connection with its health record and environments, read together.
    func connectionDetails(id: UUID) async throws -> ConnectionDetails?
    /// Filters, sorts and pages in the database; counts the matches by status.
    func list(_ query: ConnectionQuery) async throws -> ConnectionListing
    /// The owner's live (not deleted) connection with this fingerprint.
    func liveConnection(owner: UUID?, fingerprint: String) async throws -> Connection?
    /// The owner's live connection with this fingerprint, else its latest tombstone.
    func latestConnection(owner: UUID?, fingerprint: String) async throws -> Connection?
    /// Live connections whose `parentId` is `parentId`, by id.
    func children(of parentId: UUID) async throws -> [Connection]
    /// Deleted connections that have live children, by id.
    func deletedParentsWithLiveChildren() async throws -> [UUID]
    /// Live connections stored before fingerprints existed, by id, in pages after `afterId`.
    func connectionsWithoutFingerprint(after afterId: UUID?, limit: Int) async throws -> [Connection]
    /// Registered, connected and disconnected connections (what the monitor may probe), by
    /// id, in pages after `afterId`.
    func probeCandidates(after afterId: UUID?, limit: Int) async throws -> [Connection]
    /// Live connections counted by kind and status.
    func countsByKindAndStatus() async throws -> [KindStatusCount]
}

/// The lifecycle events in the order they were stored: one connection's history, and the
/// whole log after a position (what the change stream sends and resumes from); and the
/// audit records of credentials and environments.
public protocol ChangeLog: Sendable {
    /// A connection's history, newest first.
    func events(connectionId: UUID, page: Int, pageSize: Int) async throws -> EventPage
    /// The log after `query.after`, oldest first, filtered. A reader that resumes after the
    /// last sequence it saw never misses an event stored later.
    func eventLog(_ query: EventLogQuery) async throws -> [LifecycleEvent]
    /// The newest event's sequence (0 when there is none).
    func latestEventSequence() async throws -> Int64
    /// The audit log of one credential or environment, oldest first.
    func auditEvents(subjectId: UUID) async throws -> [AuditEvent]
}

/// What the monitor and the sessions observe: health records and collected data. Not part
/// of the lifecycle, so written without events.
public protocol ObservationStore: Sendable {
    /// Replaces the health records of the given connections in one transaction; a record
    /// older than the stored one (by `checkedAt`) is ignored.
    func saveHealth(_ records: [HealthRecord]) async throws
    /// Health records of the given connections (those never checked are absent).
    func health(of ids: [UUID]) async throws -> [UUID: HealthRecord]
    /// Replaces the value a session keeps under `key`.
    func saveCollectedData(connectionId: UUID, key: String, value: JSONValue, at date: Date) async throws
    /// Everything collected for a connection, by key.
    func collectedData(connectionId: UUID) async throws -> [String: CollectedItem]
    /// Deletes everything collected for a connection (when it is deleted).
    func purgeCollectedData(connectionId: UUID) async throws
}

/// The store itself: whether it can serve, the server identity it keeps, and its end.
public protocol StoreHousekeeping: Sendable {
    /// Throws unless the store can answer queries (for `/readyz`); `StoreUnavailable` names why.
    func checkReadiness() async throws
    /// This server's stable id: made (atomically) the first time it is asked for, the same
    /// id ever after. It lives in the database, so a backup or a copy carries it.
    func serverIdentity() async throws -> UUID
    /// Waits for the writes under way, then releases the database; nothing uses the store after.
    func close() async throws
}
