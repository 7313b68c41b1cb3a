import Foundation
import StoreContract
import GRDB
@testable import SwitchboardStorage
import SwitchboardTestSupport
import Testing

/// Rows a member stored before the interval floor existed are raised to it when the database
/// is upgraded, each with a system event; admins' rows and other settings are left alone.
struct MemberIntervalMigrationTests {
    @Test func membersIntervalsUnderTheFloorAreRaisedWithAnEvent() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let queue = try DatabaseQueue(path: folder.file("old.sqlite"))
        try SQLiteMigrations.migrator.migrate(queue, upTo: "v11: store probe")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO users (id, name, role, created_at) VALUES ('m', 'mia', 'member', 0), ('a', 'ann', 'admin', 0);
                INSERT INTO connections (id, name, kind, type, sub_type, status, owner, metadata, created_at, updated_at,
                                         version, status_changed_by) VALUES
                  ('c1', 'fast', 'http', 't', 's', 'connected', 'm',
                   '{"healthIntervalSeconds": 0.05, "queryIntervalSeconds": 1, "healthTimeoutSeconds": 0.1, "team": "x"}', 0, 0, 1, 'user'),
                  ('c2', 'ok', 'http', 't', 's', 'connected', 'm', '{"healthIntervalSeconds": 30}', 0, 0, 1, 'user'),
                  ('c3', 'admins', 'http', 't', 's', 'connected', 'a', '{"healthIntervalSeconds": 0.05}', 0, 0, 1, 'user');
                """)
        }
        try SQLiteMigrations.migrator.migrate(queue)
        try queue.read { db in
            func metadata(_ id: String) throws -> [String: Any] {
                let text = try String.fetchOne(db, sql: "SELECT metadata FROM connections WHERE id = ?", arguments: [id]) ?? "{}"
                return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
            }
            let fast = try metadata("c1")
            #expect(fast["healthIntervalSeconds"] as? Double == 5 && fast["queryIntervalSeconds"] as? Double == 5)
            #expect(fast["healthTimeoutSeconds"] as? Double == 0.1 && fast["team"] as? String == "x")
            #expect(try metadata("c2")["healthIntervalSeconds"] as? Double == 30)
            #expect(try metadata("c3")["healthIntervalSeconds"] as? Double == 0.05)
            #expect(try Int.fetchOne(db, sql: "SELECT version FROM connections WHERE id = 'c1'") == 3)
            let reasons = try String.fetchAll(db, sql: "SELECT reason FROM events WHERE connection_id = 'c1' AND actor = 'system' ORDER BY sequence")
            #expect(reasons == ["raised metadata.healthIntervalSeconds to 5 s, the least a member may set",
                                "raised metadata.queryIntervalSeconds to 5 s, the least a member may set"])
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE connection_id != 'c1'") == 0)
        }
    }
}
