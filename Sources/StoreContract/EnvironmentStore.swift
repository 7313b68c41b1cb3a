import ConnectionLifecycle
import Foundation

/// Where environments and their memberships live; every change is stored with its audit
/// event in one transaction.
public protocol EnvironmentStore: Sendable {
    func environment(id: UUID) async throws -> Environment?

    func environments(_ query: EnvironmentQuery) async throws -> EnvironmentListing

    /// Stores a new environment with its first members; throws `StoreError.notFound` for a
    /// connection that does not exist (or is deleted), storing nothing.
    func insertEnvironment(_ environment: Environment, members: [UUID], audit: AuditEvent) async throws

    /// Writes name, description and metadata if the stored row still has `expectedUpdatedAt`
    /// (compare-and-set); throws `StoreError.versionConflict` when another change got there
    /// first and `StoreError.environmentNotFound` when absent.
    func updateEnvironment(_ environment: Environment, expectedUpdatedAt: Date, audit: AuditEvent) async throws

    /// Deletes the environment and its memberships, never its connections.
    func deleteEnvironment(id: UUID, audit: AuditEvent) async throws

    /// Adds a live connection; says whether it was not a member yet.
    @discardableResult
    func addMember(_ connectionId: UUID, to environmentId: UUID, audit: AuditEvent) async throws -> Bool

    /// Removes a member; throws `StoreError.notFound` when it is not one.
    func removeMember(_ connectionId: UUID, from environmentId: UUID, audit: AuditEvent) async throws

    /// Shares an environment with a user (or stops sharing it); says whether anything changed.
    @discardableResult
    func share(_ environmentId: UUID, with userId: UUID, _ shared: Bool, audit: AuditEvent) async throws -> Bool

    /// Whether `userId` sees `connectionId` through an environment shared with them.
    func isShared(_ connectionId: UUID, with userId: UUID) async throws -> Bool

    /// Whether the environment is shared with `userId`.
    func isEnvironmentShared(_ environmentId: UUID, with userId: UUID) async throws -> Bool

    /// Names of the users an environment is shared with.
    func sharedUsers(of environmentId: UUID) async throws -> [String]

    /// The environments each of the given connections belongs to, sorted by id.
    func environments(ofConnections connectionIds: [UUID]) async throws -> [UUID: [Environment]]
}

public struct EnvironmentQuery: Sendable, Hashable {
    /// Only this owner's environments (`nil`: everyone's)…
    public var owner: UUID?
    /// …and those shared with this user.
    public var sharedWith: UUID?
    public var search: String?
    public var page: Int
    public var pageSize: Int

    public init(owner: UUID? = nil, sharedWith: UUID? = nil, search: String? = nil, page: Int = 0, pageSize: Int = 10) {
        self.owner = owner
        self.sharedWith = sharedWith
        self.search = search
        self.page = page
        self.pageSize = pageSize
    }
}

public struct EnvironmentListing: Sendable, Hashable {
    public var environments: [Environment]
    public var totalCount: Int

    public init(environments: [Environment], totalCount: Int) {
        self.environments = environments
        self.totalCount = totalCount
    }
}
