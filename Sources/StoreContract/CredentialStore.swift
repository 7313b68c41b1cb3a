import ConnectionLifecycle
import Foundation

/// Where credentials live. The store keeps them sealed: the services seal a secret before it
/// is written and open it after it is read, so no backend ever holds one in clear. Every
/// change is stored with its audit event in one transaction.
public protocol CredentialStore: Sendable {
    func sealedCredential(id: UUID) async throws -> SealedCredential?

    /// Credentials filtered and paged (by name, then id), and how many match.
    func sealedCredentials(_ query: CredentialQuery) async throws -> (credentials: [SealedCredential], totalCount: Int)

    /// Throws `StoreError.duplicate` for a taken id.
    func insertCredential(_ credential: SealedCredential, audit: AuditEvent) async throws

    /// Replaces name, type and sealed secret if the stored row still has `expectedUpdatedAt`
    /// (compare-and-set); throws `StoreError.versionConflict` when another change got there
    /// first and `StoreError.credentialNotFound` when there is no such credential.
    func updateCredential(_ credential: SealedCredential, expectedUpdatedAt: Date, audit: AuditEvent) async throws

    /// Deletes a credential no live connection uses; throws `StoreError.credentialInUse`
    /// (naming the connections) otherwise, `StoreError.credentialNotFound` when absent.
    func deleteCredential(id: UUID, audit: AuditEvent) async throws

    /// Deletes a credential made for connections once no live connection uses it, with
    /// `audit`; says whether it did (a credential created on its own is kept).
    @discardableResult
    func deleteCredentialIfUnused(id: UUID, audit: AuditEvent) async throws -> Bool

    /// Passes up to `limit` credentials not sealed under `keyId` through `reseal` and stores
    /// what it answers, in one transaction; returns how many (0 when none is left).
    func resealCredentials(notUnder keyId: String, limit: Int,
                           _ reseal: @Sendable (SealedCredential) throws -> SealedCredential) async throws -> Int
}

/// A credential as stored: everything but the secret in clear; the secret sealed under the
/// vault key `keyId` (AES-GCM, bound to the credential's id).
public struct SealedCredential: Sendable, Hashable {
    public var id: UUID
    public var name: String
    public var type: String
    public var owner: UUID?
    public var keyId: String
    public var sealedSecret: Data
    /// Made for connections (from a kubeconfig or an inline secret), and deleted with the last of them.
    public var ownedByConnection: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: UUID, name: String, type: String, owner: UUID?, keyId: String, sealedSecret: Data,
                ownedByConnection: Bool, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.name = name
        self.type = type
        self.owner = owner
        self.keyId = keyId
        self.sealedSecret = sealedSecret
        self.ownedByConnection = ownedByConnection
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A credential written along with a connection change, and the audit record of that write
/// (none for a write the change's event already explains).
public struct CredentialWrite: Sendable {
    public var credential: SealedCredential
    public var audit: AuditEvent?

    public init(credential: SealedCredential, audit: AuditEvent?) {
        self.credential = credential
        self.audit = audit
    }
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
