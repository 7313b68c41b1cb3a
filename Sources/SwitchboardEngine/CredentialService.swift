import ConnectionLifecycle
import Foundation
import Logging
import SwitchboardDrivers
import StoreContract

/// Credentials as users manage them: checked, sealed before the store sees them, each change
/// audited in the same transaction. Secrets go in and never come out (only their keys' names).
public struct CredentialService: Sendable {
    let store: any ConnectionStore
    let sealed: SealedCredentials
    let now: @Sendable () -> Date

    public init(store: any ConnectionStore, vault: SecretsVault?, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.sealed = SealedCredentials(store: store, vault: vault)
        self.now = now
    }

    static let maxName = 255
    static let maxKeys = 32
    static let maxValueBytes = 64 << 10

    public func list(_ query: CredentialQuery) async throws -> CredentialListing {
        try await sealed.list(query)
    }

    /// Keys that stored credentials are sealed with and this server lacks, from the first
    /// `sample` credentials: a replica started with another replica's data folder but not its
    /// key, or a server given the wrong key file, says so at start instead of at first use.
    public func missingSealingKeys(sample: Int = 100) async throws -> Set<String> {
        let known = Set(sealed.vault?.keyIds ?? [])
        let stored = try await store.sealedCredentials(CredentialQuery(pageSize: sample)).credentials
        return Set(stored.map(\.keyId)).subtracting(known)
    }

    public func get(_ id: UUID) async throws -> CredentialSummary {
        guard let summary = try await sealed.summary(id: id) else { throw EngineError.credentialNotFound(id) }
        return summary
    }

    public func create(name: String, type: String, secret: [String: String], owner: UUID? = nil,
                       by principal: Principal) async throws -> CredentialSummary {
        try Self.check(name: name, type: type)
        try Self.check(secret: secret)
        let at = now().truncatedToMilliseconds
        let credential = Credential(name: name, type: type, owner: owner, secret: secret, createdAt: at, updatedAt: at)
        try await store.insertCredential(try sealed.seal(credential), audit: audit(credential.id, .created, principal,
                                                                  "secret keys: \(secret.keys.sorted().joined(separator: ", "))", at))
        return try await get(credential.id)
    }

    /// Changes what is given; a `secret` replaces the whole secret. A compare-and-set on the
    /// row's last update: a change that lost a race is decided again on what is there now.
    public func update(_ id: UUID, name: String?, type: String?, secret: [String: String]?,
                       by principal: Principal) async throws -> CredentialSummary {
        if let secret { try Self.check(secret: secret) }
        return try await retryingLostRaces(id) {
            guard let current = try await sealed.credential(id: id) else { throw EngineError.credentialNotFound(id) }
            var credential = current
            var changed: [String] = []
            if let name, name != credential.name { credential.name = name; changed.append("name") }
            if let type, type != credential.type { credential.type = type; changed.append("type") }
            if let secret, secret != credential.secret {
                credential.secret = secret
                changed.append("secret (keys: \(secret.keys.sorted().joined(separator: ", ")))")
            }
            try Self.check(name: credential.name, type: credential.type)
            guard !changed.isEmpty else { return try await get(id) }
            // Later than the stored stamp even within one millisecond, so the stamp is a version.
            let at = max(now().truncatedToMilliseconds, current.updatedAt.addingTimeInterval(0.001))
            credential.updatedAt = at
            do {
                try await store.updateCredential(try sealed.seal(credential), expectedUpdatedAt: current.updatedAt, audit: audit(
                    id, .updated, principal, "changed \(changed.joined(separator: ", "))", at))
            } catch StoreError.credentialNotFound {
                throw EngineError.credentialNotFound(id)
            }
            return try await get(id)
        }
    }

    public func delete(_ id: UUID, by principal: Principal) async throws {
        do {
            try await store.deleteCredential(id: id, audit: audit(id, .deleted, principal, nil, now().truncatedToMilliseconds))
        } catch StoreError.credentialNotFound {
            throw EngineError.credentialNotFound(id)
        } catch StoreError.credentialInUse(_, let users) {
            throw EngineError.credentialInUse(id, by: users)
        }
    }

    /// Who changed the credential, and how (never its secret).
    public func history(_ id: UUID) async throws -> [AuditEvent] {
        try await store.auditEvents(subjectId: id)
    }

    private func audit(_ id: UUID, _ action: AuditEvent.Action, _ principal: Principal, _ detail: String?,
                       _ at: Date) -> AuditEvent {
        AuditEvent(of: "credential", id, action, by: principal, detail: detail, at: at)
    }

    static func check(name: String, type: String) throws {
        if name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw EngineError.invalid(field: "name", detail: "must not be empty")
        }
        if name.count > maxName {
            throw EngineError.invalid(field: "name", detail: "is \(name.count) characters long; the limit is \(maxName)")
        }
        try ConnectionRules.checkDisplayable(name, field: "name")
        if type.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || type.count > maxName {
            throw EngineError.invalid(field: "type", detail: "must be 1 to \(maxName) characters, e.g. token, basic, kubeconfig")
        }
    }

    static func check(secret: [String: String]) throws {
        guard !secret.isEmpty else {
            throw EngineError.invalid(field: "secret", detail: "must hold at least one key, e.g. {\"token\": \"...\"}")
        }
        guard secret.count <= maxKeys else {
            throw EngineError.invalid(field: "secret", detail: "holds \(secret.count) keys; the limit is \(maxKeys)")
        }
        for (key, value) in secret {
            if key.isEmpty || key.count > 128 {
                throw EngineError.invalid(field: "secret", detail: "key names must be 1 to 128 characters")
            }
            if value.utf8.count > maxValueBytes {
                throw EngineError.invalid(field: "secret.\(key)", detail: "is larger than \(maxValueBytes) bytes")
            }
            // These say where a kubeconfig came from; only the server sets them.
            if [SecretKey.execAllowed, "kubeconfigDirectory"].contains(key) {
                throw EngineError.invalid(field: "secret.\(key)", detail: "is set by the server only")
            }
        }
        // A kubeconfig sent through the API follows the upload rules: no files on this server,
        // no exec plugins, no auth providers.
        if let kubeconfig = secret["kubeconfig"] {
            let contexts: [KubeconfigContextImport]
            do {
                contexts = try KubeconfigImport.contexts(in: kubeconfig, origin: .uploaded)
            } catch {
                throw EngineError.invalid(field: "secret.kubeconfig", detail: "\(error)")
            }
            if let refused = contexts.first(where: { $0.problem != nil }) {
                throw EngineError.invalid(field: "secret.kubeconfig",
                                          detail: "context '\(refused.context)': \(refused.problem ?? "")")
            }
        }
    }
}
