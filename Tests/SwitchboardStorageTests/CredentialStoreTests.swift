import ConnectionLifecycle
import Crypto
import Foundation
import GRDB
import SwitchboardStorage
import SwitchboardTestSupport
import Testing

/// Credentials in a real SQLite file: sealed with AES-GCM, never readable as text, bound to
/// their row, and kept while a live connection uses them.
struct CredentialStoreTests {
    static func credential(_ secret: [String: String], ownedByConnection: Bool = true) -> Credential {
        let now = Date().truncatedToMilliseconds
        return Credential(name: "cluster", type: "kubernetes", secret: secret, ownedByConnection: ownedByConnection,
                          createdAt: now, updatedAt: now)
    }

    static func connection(credentialId: UUID?, fingerprint: String?) -> Connection {
        let now = Date().truncatedToMilliseconds
        return Connection(name: "c", url: "https://k8s.example", kind: "kubernetes", type: "platform",
                          subType: "orchestration", status: .discovered, credentialId: credentialId,
                          fingerprint: fingerprint, createdAt: now, updatedAt: now)
    }

    static func created(_ connection: Connection) -> LifecycleEvent {
        LifecycleEvent(connectionId: connection.id, from: nil, to: .discovered, actor: "system", actorRole: .system,
                       reason: "test", correlationId: UUID(), at: connection.createdAt)
    }

    @Test func secretsAreSealedAndReadBack() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("s.sqlite")
        let vault = SecretsVault(key: SymmetricKey(size: .bits256))
        let store = try SQLiteConnectionStore(path: path, vault: vault)
        let credential = Self.credential(["token": "very-secret-token-value"])
        let connection = Self.connection(credentialId: credential.id, fingerprint: "kubernetes https://k8s.example")
        try await store.insert(connection, event: Self.created(connection), credential: credential)

        #expect(try await store.credential(id: credential.id)?.secret == ["token": "very-secret-token-value"])
        for file in [path, path + "-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
            #expect(bytes.range(of: Data("very-secret-token-value".utf8)) == nil)
        }
        // Another key cannot open it; neither can a ciphertext moved onto another row.
        let stranger = try SQLiteConnectionStore(path: path, vault: SecretsVault(key: SymmetricKey(size: .bits256)))
        await #expect(throws: VaultError.self) { try await stranger.credential(id: credential.id) }
        let other = Self.credential(["token": "other"])
        let second = Self.connection(credentialId: other.id, fingerprint: "kubernetes https://other.example")
        try await store.insert(second, event: Self.created(second), credential: other)
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "UPDATE credentials SET secret = (SELECT secret FROM credentials WHERE id = ?) WHERE id = ?",
                           arguments: [credential.id.lowercasedString, other.id.lowercasedString])
        }
        await #expect(throws: VaultError.self) { try await store.credential(id: other.id) }
    }

    @Test func oneLiveConnectionPerOwnerAndFingerprint() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let store = try SQLiteConnectionStore(path: folder.file("s.sqlite"))
        let first = Self.connection(credentialId: nil, fingerprint: "http https://x.example")
        try await store.insert(first, event: Self.created(first))
        let copy = Self.connection(credentialId: nil, fingerprint: "http https://x.example")
        await #expect(throws: StoreError.duplicateFingerprint("http https://x.example", existing: first.id)) {
            try await store.insert(copy, event: Self.created(copy))
        }
        // Another owner may; and once the first is deleted, the fingerprint is free again.
        var owned = Self.connection(credentialId: nil, fingerprint: "http https://x.example")
        owned.owner = UUID()
        try await store.insert(owned, event: Self.created(owned))
        var tombstone = first
        tombstone.status = .deleted
        _ = try await store.update(tombstone, expectedVersion: 1, event: nil)
        try await store.insert(copy, event: Self.created(copy))
        #expect(try await store.liveConnection(owner: nil, fingerprint: "http https://x.example")?.id == copy.id)
    }

    @Test func aSharedCredentialOutlivesOneOfItsConnections() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let store = try SQLiteConnectionStore(path: folder.file("s.sqlite"), vault: SecretsVault(key: SymmetricKey(size: .bits256)))
        let credential = Self.credential(["token": "t"])
        let parent = Self.connection(credentialId: credential.id, fingerprint: "a")
        let child = Self.connection(credentialId: credential.id, fingerprint: "b")
        try await store.insert(parent, event: Self.created(parent), credential: credential)
        try await store.insert(child, event: Self.created(child))
        #expect(try await store.deleteCredentialIfUnused(id: credential.id) == false)
        var gone = child
        gone.status = .deleted
        _ = try await store.update(gone, expectedVersion: 1, event: nil)
        gone = parent
        gone.status = .deleted
        _ = try await store.update(gone, expectedVersion: 1, event: nil)
        #expect(try await store.deleteCredentialIfUnused(id: credential.id) == true)
        #expect(try await store.credential(id: credential.id) == nil)

        // One made on its own (the credentials API) outlives every connection that used it.
        let standalone = Self.credential(["token": "kept"], ownedByConnection: false)
        let user = Self.connection(credentialId: standalone.id, fingerprint: "c")
        try await store.insert(user, event: Self.created(user), credential: standalone)
        var removed = user
        removed.status = .deleted
        _ = try await store.update(removed, expectedVersion: 1, event: nil)
        #expect(try await store.deleteCredentialIfUnused(id: standalone.id) == false)
        #expect(try await store.credential(id: standalone.id) != nil)
    }
}
