import ConnectionLifecycle
import Foundation
import SwitchboardDrivers
import StoreContract
import Synchronization

/// The secrets drivers authenticate with: the connection's stored credential (opened with
/// the vault) when it names one, else the files its metadata refers to.
///
/// A secret not stored yet can be lent for one check (`withPending`), so a kubeconfig can
/// be tested for reachability without persisting anything.
public final class StoredCredentials: CredentialSource {
    private let sealed: SealedCredentials
    private let files: FileReferenceCredentials
    private let pending = Mutex<[UUID: SecretValues]>([:])

    public init(store: any ConnectionStore, vault: SecretsVault?, files: FileReferenceCredentials) {
        self.sealed = SealedCredentials(store: store, vault: vault)
        self.files = files
    }

    public func secrets(for connection: Connection) async throws -> SecretValues {
        guard let id = connection.credentialId else { return try await files.secrets(for: connection) }
        if let lent = pending.withLock({ $0[id] }) { return lent }
        guard let credential = try await sealed.credential(id: id) else {
            throw DriverError("credential \(id.lowercasedString) does not exist")
        }
        return credential.secret
    }

    /// Runs `body` while the credential `id` resolves to `secret`.
    public func withPending<T: Sendable>(_ id: UUID, _ secret: SecretValues,
                                         _ body: () async throws -> T) async rethrows -> T {
        pending.withLock { $0[id] = secret }
        defer { pending.withLock { $0[id] = nil } }
        return try await body()
    }
}
