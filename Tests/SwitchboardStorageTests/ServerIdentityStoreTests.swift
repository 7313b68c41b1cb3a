import Foundation
import StoreContract
import GRDB
import SwitchboardStorage
import SwitchboardTestSupport
import Testing

/// The server's id: made once, atomically, kept in the database (and so in a backup).
@Suite struct ServerIdentityStoreTests {
    @Test func madeOnceEvenWhenAskedConcurrentlyAndKeptAcrossOpens() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("switchboard.sqlite")
        let store = try SQLiteConnectionStore(path: path)
        let ids = try await withThrowingTaskGroup(of: UUID.self) { group in
            for _ in 0..<16 { group.addTask { try await store.serverIdentity() } }
            return try await group.reduce(into: Set<UUID>()) { $0.insert($1) }
        }
        #expect(ids.count == 1, "\(ids)")
        let id = try #require(ids.first)
        try await store.close()

        let reopened = try SQLiteConnectionStore(path: path)
        #expect(try await reopened.serverIdentity() == id)
        try await reopened.close()

        // A backup is the same server.
        _ = try DatabaseBackup.copy(from: path, to: folder.file("backup.sqlite"))
        let restored = try SQLiteConnectionStore(path: folder.file("backup.sqlite"))
        #expect(try await restored.serverIdentity() == id)
        try await restored.close()
    }

    @Test func aRowThatIsNotAUUIDSaysWhatToDo() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("switchboard.sqlite")
        let store = try SQLiteConnectionStore(path: path)
        _ = try await store.serverIdentity()
        try await store.close()
        try await DatabaseQueue(path: path).write { try $0.execute(sql: "UPDATE server_identity SET id = 'not-a-uuid'") }
        let damaged = try SQLiteConnectionStore(path: path)
        await #expect(throws: ServerIdentityError.self) { try await damaged.serverIdentity() }
        try await damaged.close()
    }
}
