import Foundation
import GRDB
@testable import SwitchboardStorage
import SwitchboardTestSupport
import Testing

/// Children a cluster scan stored before the parent column existed get it from their
/// metadata when the database is upgraded, and are found by it.
struct ParentColumnMigrationTests {
    @Test func scannedChildrenKeepTheirParent() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("old.sqlite")
        let queue = try DatabaseQueue(path: path)
        try SQLiteMigrations.migrator.migrate(queue, upTo: "v13: server identity")
        let parent = "00000000-0000-0000-0000-0000000000aa"
        try await queue.write { db in
            try db.execute(sql: """
                INSERT INTO connections (id, name, kind, type, sub_type, status, metadata, created_at, updated_at,
                                         version, status_changed_by) VALUES
                  ('\(parent)', 'prod', 'kubernetes', 't', 's', 'deleted', '{}', 0, 0, 1, 'user'),
                  ('00000000-0000-0000-0000-0000000000c1', 'child', 'prometheus', 't', 's', 'discovered',
                   '{"parentConnectionId": "\(parent)"}', 0, 0, 1, 'system'),
                  ('00000000-0000-0000-0000-0000000000c2', 'odd', 'prometheus', 't', 's', 'discovered',
                   '{"parentConnectionId": 7}', 0, 0, 1, 'system');
                """)
        }
        try queue.close()
        let store = try SQLiteConnectionStore(path: path)
        let parentId = try #require(UUID(uuidString: parent))
        #expect(try await store.children(of: parentId).map(\.id.lowercasedString) == ["00000000-0000-0000-0000-0000000000c1"])
        #expect(try await store.deletedParentsWithLiveChildren() == [parentId])
        #expect(try await store.connection(id: try #require(UUID(uuidString: "00000000-0000-0000-0000-0000000000c2")))?.parentId == nil)
        try await store.close()
    }
}
