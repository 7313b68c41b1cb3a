import Foundation
import PostgresNIO
import StoreContract

extension PostgresConnectionStore {
    /// Ready when the server answers within the wait, the schema is migrated and the server
    /// takes writes (not a standby in recovery, not a read-only session).
    public func checkReadiness() async throws {
        let location = url.description
        try await read { db in
            let row = try await db.rows("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").first
            let (recovering, readOnly) = try row?.decode((Bool, String).self) ?? (false, "off")
            if recovering || readOnly == "on" {
                throw StoreUnavailable(cause: .readOnly, operation: .write, location: location,
                                       detail: recovering ? "the server is a standby in recovery" : "the session is read-only")
            }
        }
    }

    public func serverIdentity() async throws -> UUID {
        if let id = try await read({ db in try await Self.storedIdentity(db) }) { return id }
        let made = UUID(), at = Date().storageMilliseconds, location = url.description
        return try await write { db in
            // Two first calls at once: the row of whichever commits first stays.
            try await db.run("""
                INSERT INTO server_identity (singleton, id, created_at) VALUES (1, \(made), \(at)) ON CONFLICT (singleton) DO NOTHING
                """)
            guard let id = try await Self.storedIdentity(db) else {
                throw PostgresCorruptRowError(description: "the server_identity row of \(location) cannot be read")
            }
            return id
        }
    }

    private static func storedIdentity(_ db: PostgresConnection) async throws -> UUID? {
        try await db.rows("SELECT id FROM server_identity WHERE singleton = 1").first?.decode(UUID.self)
    }
}
