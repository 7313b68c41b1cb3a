import ConnectionLifecycle
import Foundation
import StoreContract
import GRDB
import SwitchboardStorage
import SwitchboardTestSupport
import Testing

/// Credentials in a real SQLite file: kept while a live connection uses them.
struct CredentialStoreTests {
    /// A credential as the store sees it: sealed bytes it never opens.
    static func credential(_ secret: [String: String], ownedByConnection: Bool = true) -> CredentialWrite {
        let now = Date().truncatedToMilliseconds
        return CredentialWrite(credential: SealedCredential(
            id: UUID(), name: "cluster", type: "kubernetes", owner: nil, keyId: "k1",
            sealedSecret: Data(secret.description.utf8), ownedByConnection: ownedByConnection,
            createdAt: now, updatedAt: now), audit: nil)
    }

    static func dropped(_ id: UUID) -> AuditEvent {
        AuditEvent(subjectType: "credential", subjectId: id, action: .deleted, actor: "system", actorRole: .system,
                   detail: "deleted with the last connection that used it", correlationId: UUID(),
                   at: Date().truncatedToMilliseconds)
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
        let store = try SQLiteConnectionStore(path: folder.file("s.sqlite"))
        let credential = Self.credential(["token": "t"])
        let parent = Self.connection(credentialId: credential.credential.id, fingerprint: "a")
        let child = Self.connection(credentialId: credential.credential.id, fingerprint: "b")
        try await store.insert(parent, event: Self.created(parent), credential: credential)
        try await store.insert(child, event: Self.created(child))
        #expect(try await store.deleteCredentialIfUnused(id: credential.credential.id, audit: Self.dropped(credential.credential.id)) == false)
        var gone = child
        gone.status = .deleted
        _ = try await store.update(gone, expectedVersion: 1, event: nil)
        gone = parent
        gone.status = .deleted
        _ = try await store.update(gone, expectedVersion: 1, event: nil)
        #expect(try await store.deleteCredentialIfUnused(id: credential.credential.id, audit: Self.dropped(credential.credential.id)) == true)
        #expect(try await store.sealedCredential(id: credential.credential.id) == nil)

        // One made on its own (the credentials API) outlives every connection that used it.
        let standalone = Self.credential(["token": "kept"], ownedByConnection: false)
        let user = Self.connection(credentialId: standalone.credential.id, fingerprint: "c")
        try await store.insert(user, event: Self.created(user), credential: standalone)
        var removed = user
        removed.status = .deleted
        _ = try await store.update(removed, expectedVersion: 1, event: nil)
        #expect(try await store.deleteCredentialIfUnused(id: standalone.credential.id, audit: Self.dropped(standalone.credential.id)) == false)
        #expect(try await store.sealedCredential(id: standalone.credential.id) != nil)
    }
}
