import ConnectionLifecycle
import Foundation

/// Where credentials live, sealed by the store's `SecretsVault`. Every change is stored
/// with its audit event in one transaction.
public protocol CredentialStore: Sendable {
    /// A credential with its secret decrypted.
    func credential(id: UUID) async throws -> Credential?

    /// One credential without its secret's values.
    func credentialSummary(id: UUID) async throws -> CredentialSummary?

    /// Credentials without their secrets (names of the secret keys only), filtered and paged.
    func credentials(_ query: CredentialQuery) async throws -> CredentialListing

    func insertCredential(_ credential: Credential, audit: AuditEvent) async throws

    /// Replaces name, type and secret if the stored row still has `expectedUpdatedAt`
    /// (compare-and-set); throws `StoreError.versionConflict` when another change got there
    /// first and `StoreError.credentialNotFound` when there is no such credential.
    func updateCredential(_ credential: Credential, expectedUpdatedAt: Date, audit: AuditEvent) async throws

    /// Deletes a credential no live connection uses; throws `StoreError.credentialInUse`
    /// (naming the connections) otherwise, `StoreError.credentialNotFound` when absent.
    func deleteCredential(id: UUID, audit: AuditEvent) async throws

    /// Deletes a credential made for connections once no live connection uses it; says
    /// whether it did (a credential created on its own is kept).
    @discardableResult
    func deleteCredentialIfUnused(id: UUID) async throws -> Bool

    /// The audit log of one subject, oldest first.
    func auditEvents(subjectId: UUID) async throws -> [AuditEvent]

    /// Seals up to `limit` credentials that are not under the vault's current key with it;
    /// returns how many it re-sealed (0 when every credential is under the current key).
    func resealCredentials(limit: Int) async throws -> Int
}

/// A credential as lists show it: everything but the secret's values.
public struct CredentialSummary: Sendable, Hashable {
    public var id: UUID
    public var name: String
    public var type: String
    public var owner: UUID?
    public var secretKeys: [String]
    public var keyId: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: UUID, name: String, type: String, owner: UUID?, secretKeys: [String], keyId: String,
                createdAt: Date, updatedAt: Date) {
        self.id = id
        self.name = name
        self.type = type
        self.owner = owner
        self.secretKeys = secretKeys
        self.keyId = keyId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public struct CredentialQuery: Sendable, Hashable {
    /// Only this owner's (`nil`: everyone's).
    public var owner: UUID?
    public var search: String?
    public var page: Int
    public var pageSize: Int

    public init(owner: UUID? = nil, search: String? = nil, page: Int = 0, pageSize: Int = 10) {
        self.owner = owner
        self.search = search
        self.page = page
        self.pageSize = pageSize
    }
}

public struct CredentialListing: Sendable, Hashable {
    public var credentials: [CredentialSummary]
    public var totalCount: Int

    public init(credentials: [CredentialSummary], totalCount: Int) {
        self.credentials = credentials
        self.totalCount = totalCount
    }
}
