import ConnectionLifecycle
import Foundation
import StoreContract

/// The one place credentials are sealed and opened. The store keeps only sealed bytes, so
/// every backend stores the same thing and none ever holds a secret in clear.
public struct SealedCredentials: Sendable {
    let store: any ConnectionStore
    /// Without one, storing or reading a credential fails with `StoreError.noSecretsKey`.
    let vault: SecretsVault?

    public init(store: any ConnectionStore, vault: SecretsVault?) {
        self.store = store
        self.vault = vault
    }

    /// A credential with its secret opened.
    public func credential(id: UUID) async throws -> Credential? {
        guard let sealed = try await store.sealedCredential(id: id) else { return nil }
        return try open(sealed)
    }

    public func summary(id: UUID) async throws -> CredentialSummary? {
        guard let sealed = try await store.sealedCredential(id: id) else { return nil }
        return try summary(sealed)
    }

    public func list(_ query: CredentialQuery) async throws -> CredentialListing {
        let page = try await store.sealedCredentials(query)
        return CredentialListing(credentials: try page.credentials.map(summary), totalCount: page.totalCount)
    }

    func seal(_ credential: Credential) throws -> SealedCredential {
        guard let vault else { throw StoreError.noSecretsKey }
        let (keyId, sealed) = try vault.seal(credential.secret, credentialId: credential.id)
        return SealedCredential(id: credential.id, name: credential.name, type: credential.type, owner: credential.owner,
                                keyId: keyId, sealedSecret: sealed, ownedByConnection: credential.ownedByConnection,
                                createdAt: credential.createdAt, updatedAt: credential.updatedAt)
    }

    /// A credential written along with a connection change, audited with the change's actor
    /// (the names of its secret's keys, never their values).
    func write(_ credential: Credential, for event: LifecycleEvent?, replacing: Bool) throws -> CredentialWrite {
        let audit = event.map { event in
            AuditEvent(
                subjectType: "credential", subjectId: credential.id, action: replacing ? .updated : .created,
                actor: event.actor, actorRole: event.actorRole,
                detail: "\(replacing ? "secret replaced" : "created") for connection \(event.connectionId.lowercasedString) (secret keys: \(credential.secret.keys.sorted().joined(separator: ", ")))",
                correlationId: event.correlationId, at: event.at)
        }
        return CredentialWrite(credential: try seal(credential), audit: audit)
    }

    /// Seals every credential not under the vault's current key with it, in batches; says how many.
    public func resealAll() async throws -> Int {
        guard let vault else { throw StoreError.noSecretsKey }
        var total = 0
        while true {
            let count = try await store.resealCredentials(notUnder: vault.keyId, limit: 200) { sealed in
                let secret = try vault.open(sealed.sealedSecret, keyId: sealed.keyId, credentialId: sealed.id)
                var resealed = sealed
                (resealed.keyId, resealed.sealedSecret) = try vault.seal(secret, credentialId: sealed.id)
                return resealed
            }
            guard count > 0 else { return total }
            total += count
        }
    }

    private func open(_ sealed: SealedCredential) throws -> Credential {
        guard let vault else { throw StoreError.noSecretsKey }
        return Credential(
            id: sealed.id, name: sealed.name, type: sealed.type, owner: sealed.owner,
            secret: try vault.open(sealed.sealedSecret, keyId: sealed.keyId, credentialId: sealed.id),
            ownedByConnection: sealed.ownedByConnection, createdAt: sealed.createdAt, updatedAt: sealed.updatedAt)
    }

    /// Only the names of the secret's keys leave this way.
    private func summary(_ sealed: SealedCredential) throws -> CredentialSummary {
        guard let vault else { throw StoreError.noSecretsKey }
        // One credential that no longer opens (a retired key, a damaged row) must not hide the others.
        let secret = (try? vault.open(sealed.sealedSecret, keyId: sealed.keyId, credentialId: sealed.id)) ?? [:]
        return CredentialSummary(id: sealed.id, name: sealed.name, type: sealed.type, owner: sealed.owner,
                                 secretKeys: secret.keys.sorted(), keyId: sealed.keyId,
                                 createdAt: sealed.createdAt, updatedAt: sealed.updatedAt)
    }
}
