import ConnectionLifecycle
import Crypto
import Foundation
import StoreContract
import SwitchboardEngine
import SwitchboardTestSupport
import Testing

/// Credentials are sealed before the store sees them (AES-GCM): never readable as text in
/// the database file, unreadable with another key, and bound to their row.
struct SealedCredentialsTests {
    @Test func secretsAreSealedAndReadBack() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("s.sqlite")
        let store = try TestStore.sqlite(path)
        let vault = SecretsVault(key: SymmetricKey(size: .bits256))
        let credentials = CredentialService(store: store, vault: vault)
        let sealed = SealedCredentials(store: store, vault: vault)
        let first = try await credentials.create(name: "one", type: "token", secret: ["token": "very-secret-token-value"], by: .system)
        #expect(try await sealed.credential(id: first.id)?.secret == ["token": "very-secret-token-value"])
        #expect(first.secretKeys == ["token"])
        for file in [path, path + "-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
            #expect(bytes.range(of: Data("very-secret-token-value".utf8)) == nil, "the secret is in \(file) as text")
        }
        // Another key cannot open it.
        let stranger = SealedCredentials(store: store, vault: SecretsVault(key: SymmetricKey(size: .bits256)))
        await #expect(throws: VaultError.self) { try await stranger.credential(id: first.id) }
        // Nor does a ciphertext moved onto another row open.
        let second = try await credentials.create(name: "two", type: "token", secret: ["token": "other"], by: .system)
        var moved = try #require(try await store.sealedCredential(id: second.id))
        let original = try #require(try await store.sealedCredential(id: first.id))
        moved.sealedSecret = original.sealedSecret
        moved.updatedAt = moved.updatedAt.addingTimeInterval(1)
        try await store.updateCredential(moved, expectedUpdatedAt: second.updatedAt, audit: AuditEvent(
            subjectType: "credential", subjectId: second.id, action: .updated, actor: "attacker", actorRole: .user,
            detail: nil, correlationId: UUID(), at: Date()))
        await #expect(throws: VaultError.self) { try await sealed.credential(id: second.id) }
    }
}
