import ConnectionLifecycle
import Foundation
import StoreContract
import GRDB

/// Conversions between domain values and SQLite rows.
enum ConnectionRow {
    /// Column values in table order, `id` first.
    static func values(of connection: Connection) -> [(any DatabaseValueConvertible)?] {
        [
            connection.id.lowercasedString, connection.name, connection.description, connection.url,
            connection.kind, connection.type, connection.subType, connection.status.wireName,
            connection.credentialId?.lowercasedString, connection.owner?.lowercasedString,
            JSONText.encode(connection.metadata),
            connection.createdAt.storageMilliseconds, connection.updatedAt.storageMilliseconds,
            connection.deletedAt?.storageMilliseconds, connection.version, connection.statusChangedBy.rawValue,
            connection.fingerprint, connection.parentId?.lowercasedString,
        ]
    }

    static func connection(from row: Row) throws -> Connection {
        Connection(
            id: try uuid(row["id"], column: "id"),
            name: row["name"],
            description: row["description"],
            url: row["url"],
            kind: row["kind"],
            type: row["type"],
            subType: row["sub_type"],
            status: try status(row["status"]),
            credentialId: try (row["credential_id"] as String?).map { try uuid($0, column: "credential_id") },
            owner: try (row["owner"] as String?).map { try uuid($0, column: "owner") },
            metadata: JSONText.decode(row["metadata"]),
            fingerprint: row["fingerprint"],
            createdAt: Date(storageMilliseconds: row["created_at"]),
            updatedAt: Date(storageMilliseconds: row["updated_at"]),
            deletedAt: (row["deleted_at"] as Int64?).map(Date.init(storageMilliseconds:)),
            version: row["version"],
            statusChangedBy: ActorRole(rawValue: row["status_changed_by"]) ?? .user,
            parentId: try (row["parent_id"] as String?).map { try uuid($0, column: "parent_id") }
        )
    }
}

enum EventRow {
    /// Column values for an insert, without the store-assigned sequence.
    static func values(of event: LifecycleEvent) -> [(any DatabaseValueConvertible)?] {
        [
            event.connectionId.lowercasedString, event.from?.wireName, event.to.wireName, event.actor,
            event.actorRole.rawValue, event.reason, event.correlationId.lowercasedString, event.at.storageMilliseconds,
        ]
    }

    static func event(from row: Row) throws -> LifecycleEvent {
        LifecycleEvent(
            sequence: row["sequence"],
            connectionId: try uuid(row["connection_id"], column: "connection_id"),
            from: try (row["from_status"] as String?).map(status),
            to: try status(row["to_status"]),
            actor: row["actor"],
            actorRole: ActorRole(rawValue: row["actor_role"]) ?? .user,
            reason: row["reason"],
            correlationId: try uuid(row["correlation_id"], column: "correlation_id"),
            at: Date(storageMilliseconds: row["at"])
        )
    }
}

enum HealthRow {
    static func record(from row: Row) throws -> HealthRecord {
        HealthRecord(
            connectionId: try uuid(row["connection_id"], column: "connection_id"),
            state: HealthState(rawValue: row["state"]) ?? .unknown,
            checkedAt: (row["checked_at"] as Int64?).map(Date.init(storageMilliseconds:)),
            latencyMilliseconds: row["latency_ms"],
            lastError: row["last_error"],
            consecutiveSuccesses: row["consecutive_successes"],
            consecutiveFailures: row["consecutive_failures"]
        )
    }
}

enum CredentialRow {
    static func id(_ row: Row) throws -> UUID { try uuid(row["id"], column: "id") }
    static func owner(_ row: Row) -> UUID? { (row["owner"] as String?).flatMap(UUID.init(uuidString:)) }
}

/// A credentials row, its secret still sealed. (GRDB's `Row` is not `Sendable`, and an
/// `await pool.read` whose closure returns one silently runs GRDB's *blocking* overload on
/// a cooperative thread; issue 14: the server hung under concurrent pings. Reads return this.)
enum SealedCredentialRow {
    static func credential(from row: Row) throws -> SealedCredential {
        SealedCredential(
            id: try CredentialRow.id(row), name: row["name"], type: row["type"], owner: CredentialRow.owner(row),
            keyId: row["key_id"], sealedSecret: row["secret"], ownedByConnection: row["owned_by_connection"],
            createdAt: Date(storageMilliseconds: row["created_at"]), updatedAt: Date(storageMilliseconds: row["updated_at"]))
    }
}

enum AuditRow {
    static func event(from row: Row) throws -> AuditEvent {
        AuditEvent(
            sequence: row["sequence"], subjectType: row["subject_type"],
            subjectId: try uuid(row["subject_id"], column: "subject_id"),
            action: AuditEvent.Action(rawValue: row["action"]) ?? .updated, actor: row["actor"],
            actorRole: ActorRole(rawValue: row["actor_role"]) ?? .user, detail: row["detail"],
            correlationId: try uuid(row["correlation_id"], column: "correlation_id"),
            at: Date(storageMilliseconds: row["at"]))
    }
}

/// A value the database holds that the code cannot read: a corrupted or foreign row.
public struct CorruptRowError: Error, CustomStringConvertible {
    public let description: String
}

private func uuid(_ text: String, column: String) throws -> UUID {
    guard let value = UUID(uuidString: text) else { throw CorruptRowError(description: "\(column) '\(text)' is not a UUID") }
    return value
}

private func status(_ text: String) throws -> ConnectionStatus {
    guard let value = ConnectionStatus(rawValue: text) else { throw CorruptRowError(description: "unknown status '\(text)'") }
    return value
}

