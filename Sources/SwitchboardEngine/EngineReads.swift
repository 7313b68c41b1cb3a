import ConnectionLifecycle
import Foundation
import StoreContract

/// What the API reads, through the engine: routes never reach the store itself, so a
/// second backend is one more implementation of the store, not a change to every route.
extension ConnectionEngine {
    /// One connection with its health and environments, in one read (the API's most
    /// frequent call); `notFound` when no connection has the id.
    public func details(of id: UUID) async throws -> ConnectionDetails {
        guard let details = try await store.connectionDetails(id: id) else { throw EngineError.notFound(id) }
        return details
    }

    /// The connection with this id, or nil (tombstones included).
    public func connectionIfPresent(id: UUID) async throws -> Connection? {
        try await store.connection(id: id)
    }

    /// The environments each connection belongs to.
    public func environments(ofConnections ids: [UUID]) async throws -> [UUID: [Environment]] {
        try await store.environments(ofConnections: ids)
    }

    /// Whether an environment shared with `user` holds the connection.
    public func isShared(_ connectionId: UUID, with user: UUID) async throws -> Bool {
        try await store.isShared(connectionId, with: user)
    }

    public func isEnvironmentShared(_ environmentId: UUID, with user: UUID) async throws -> Bool {
        try await store.isEnvironmentShared(environmentId, with: user)
    }

    public func userNames(ids: Set<UUID>) async throws -> [UUID: String] {
        try await store.userNames(ids: ids)
    }

    /// Who owns the credential, and whether it exists (nil when it does not).
    public func credentialOwner(id: UUID) async throws -> (owner: UUID?, exists: Bool) {
        guard let summary = try await sealed.summary(id: id) else { return (nil, false) }
        return (summary.owner, true)
    }

    // MARK: The change log

    /// The sequence of the newest event: a stream that starts now resumes after it.
    public func latestEventSequence() async throws -> Int64 {
        try await store.latestEventSequence()
    }

    /// Events after `query.after`, oldest first.
    public func eventLog(_ query: EventLogQuery) async throws -> [LifecycleEvent] {
        try await store.eventLog(query)
    }

    // MARK: The server

    /// Throws `StoreUnavailable` (or the store's error) when the store cannot serve.
    public func checkReadiness() async throws {
        try await store.checkReadiness()
    }

    public func serverIdentity() async throws -> UUID {
        try await store.serverIdentity()
    }

    /// Live connections counted by kind and status.
    public func countsByKindAndStatus() async throws -> [KindStatusCount] {
        try await store.countsByKindAndStatus()
    }
}
