import ConnectionLifecycle
import Foundation
import StoreContract
import GRDB

extension SQLiteConnectionStore {
    public func serverIdentity() async throws -> UUID {
        // Read first: every call after the first start is a read, not a write.
        if let id = try await read({ db in try Self.storedIdentity(db) }) { return id }
        let made = UUID(), at = Date().storageMilliseconds, path = fileHealth.path
        return try await write { db in
            // Two first calls at once: the row of whichever commits first stays.
            try db.execute(sql: """
                INSERT INTO server_identity (singleton, id, created_at) VALUES (1, ?, ?)
                ON CONFLICT (singleton) DO NOTHING
                """, arguments: [made.lowercasedString, at])
            guard let id = try Self.storedIdentity(db) else { throw ServerIdentityError(path: path) }
            return id
        }
    }

    private static func storedIdentity(_ db: Database) throws -> UUID? {
        try String.fetchOne(db, sql: "SELECT id FROM server_identity WHERE singleton = 1").flatMap(UUID.init(uuidString:))
    }
}

/// The identity row holds something that is not a UUID (edited by hand, or damaged).
public struct ServerIdentityError: Error, CustomStringConvertible {
    public let path: String

    public var description: String {
        "the server_identity row of \(path) does not hold a UUID; restore the database from a backup, or delete that row to give this server a new id (a hub then sees a new server)"
    }
}
