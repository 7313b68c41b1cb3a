import ConnectionLifecycle
import Foundation
import PostgresNIO
import StoreContract

/// Conversions between domain values and PostgreSQL rows (ids are `uuid`, times `bigint`
/// milliseconds, JSON values text).
enum PostgresRows {
    static func connection(_ row: PostgresRow) throws -> Connection {
        let row = row.makeRandomAccess()
        return Connection(
            id: try row["id"].decode(UUID.self),
            name: try row["name"].decode(String.self),
            description: try row["description"].decode(String?.self),
            url: try row["url"].decode(String?.self),
            kind: try row["kind"].decode(String.self),
            type: try row["type"].decode(String.self),
            subType: try row["sub_type"].decode(String.self),
            status: try status(try row["status"].decode(String.self)),
            credentialId: try row["credential_id"].decode(UUID?.self),
            owner: try row["owner"].decode(UUID?.self),
            metadata: JSONText.decode(try row["metadata"].decode(String.self)),
            fingerprint: try row["fingerprint"].decode(String?.self),
            createdAt: Date(storageMilliseconds: try row["created_at"].decode(Int64.self)),
            updatedAt: Date(storageMilliseconds: try row["updated_at"].decode(Int64.self)),
            deletedAt: try row["deleted_at"].decode(Int64?.self).map(Date.init(storageMilliseconds:)),
            version: try row["version"].decode(Int64.self),
            statusChangedBy: ActorRole(rawValue: try row["status_changed_by"].decode(String.self)) ?? .user,
            parentId: try row["parent_id"].decode(UUID?.self)
        )
    }

    static func event(_ row: PostgresRow) throws -> LifecycleEvent {
        let row = row.makeRandomAccess()
        return LifecycleEvent(
            sequence: try row["sequence"].decode(Int64.self),
            connectionId: try row["connection_id"].decode(UUID.self),
            from: try row["from_status"].decode(String?.self).map(status),
            to: try status(try row["to_status"].decode(String.self)),
            actor: try row["actor"].decode(String.self),
            actorRole: ActorRole(rawValue: try row["actor_role"].decode(String.self)) ?? .user,
            reason: try row["reason"].decode(String?.self),
            correlationId: try row["correlation_id"].decode(UUID.self),
            at: Date(storageMilliseconds: try row["at"].decode(Int64.self))
        )
    }

    static func health(_ row: PostgresRow) throws -> HealthRecord {
        let row = row.makeRandomAccess()
        return HealthRecord(
            connectionId: try row["connection_id"].decode(UUID.self),
            state: HealthState(rawValue: try row["state"].decode(String.self)) ?? .unknown,
            checkedAt: try row["checked_at"].decode(Int64?.self).map(Date.init(storageMilliseconds:)),
            latencyMilliseconds: try row["latency_ms"].decode(Double?.self),
            lastError: try row["last_error"].decode(String?.self),
            consecutiveSuccesses: Int(try row["consecutive_successes"].decode(Int64.self)),
            consecutiveFailures: Int(try row["consecutive_failures"].decode(Int64.self))
        )
    }

    static func credential(_ row: PostgresRow) throws -> SealedCredential {
        let row = row.makeRandomAccess()
        return SealedCredential(
            id: try row["id"].decode(UUID.self), name: try row["name"].decode(String.self),
            type: try row["type"].decode(String.self), owner: try row["owner"].decode(UUID?.self),
            keyId: try row["key_id"].decode(String.self), sealedSecret: try row["secret"].decode(Data.self),
            ownedByConnection: try row["owned_by_connection"].decode(Bool.self),
            createdAt: Date(storageMilliseconds: try row["created_at"].decode(Int64.self)),
            updatedAt: Date(storageMilliseconds: try row["updated_at"].decode(Int64.self)))
    }

    static func audit(_ row: PostgresRow) throws -> AuditEvent {
        let row = row.makeRandomAccess()
        return AuditEvent(
            sequence: try row["sequence"].decode(Int64.self), subjectType: try row["subject_type"].decode(String.self),
            subjectId: try row["subject_id"].decode(UUID.self),
            action: AuditEvent.Action(rawValue: try row["action"].decode(String.self)) ?? .updated,
            actor: try row["actor"].decode(String.self),
            actorRole: ActorRole(rawValue: try row["actor_role"].decode(String.self)) ?? .user,
            detail: try row["detail"].decode(String?.self),
            correlationId: try row["correlation_id"].decode(UUID.self),
            at: Date(storageMilliseconds: try row["at"].decode(Int64.self)))
    }

    static func environment(_ row: PostgresRow) throws -> Environment {
        let row = row.makeRandomAccess()
        return Environment(
            id: try row["id"].decode(UUID.self), name: try row["name"].decode(String.self),
            description: try row["description"].decode(String?.self), owner: try row["owner"].decode(UUID?.self),
            metadata: JSONText.decode(try row["metadata"].decode(String.self)),
            createdAt: Date(storageMilliseconds: try row["created_at"].decode(Int64.self)),
            updatedAt: Date(storageMilliseconds: try row["updated_at"].decode(Int64.self)))
    }

    static func user(_ row: PostgresRow) throws -> User {
        let row = row.makeRandomAccess()
        let id = try row["id"].decode(UUID.self)
        guard let role = User.Role(rawValue: try row["role"].decode(String.self)) else {
            throw PostgresCorruptRowError(description: "user \(id.lowercasedString) has an unknown role")
        }
        return User(id: id, name: try row["name"].decode(String.self), role: role,
                    createdAt: Date(storageMilliseconds: try row["created_at"].decode(Int64.self)))
    }

    static func tokenAndUser(_ row: PostgresRow) throws -> (APIToken, User) {
        let row = row.makeRandomAccess()
        let id = try row["id"].decode(UUID.self)
        let userId = try row["user_id"].decode(UUID.self)
        guard let role = User.Role(rawValue: try row["user_role"].decode(String.self)) else {
            throw PostgresCorruptRowError(description: "token \(id.lowercasedString) belongs to a user with an unknown role")
        }
        let token = APIToken(
            id: id, userId: userId, name: try row["name"].decode(String?.self), hash: try row["hash"].decode(String.self),
            createdAt: Date(storageMilliseconds: try row["created_at"].decode(Int64.self)),
            expiresAt: try row["expires_at"].decode(Int64?.self).map(Date.init(storageMilliseconds:)),
            revokedAt: try row["revoked_at"].decode(Int64?.self).map(Date.init(storageMilliseconds:)))
        let user = User(id: userId, name: try row["user_name"].decode(String.self), role: role,
                        createdAt: Date(storageMilliseconds: try row["user_created_at"].decode(Int64.self)))
        return (token, user)
    }

    private static func status(_ text: String) throws -> ConnectionStatus {
        guard let value = ConnectionStatus(rawValue: text) else {
            throw PostgresCorruptRowError(description: "unknown status '\(text)'")
        }
        return value
    }
}

/// A value the database holds that the code cannot read: a corrupted or foreign row.
public struct PostgresCorruptRowError: Error, CustomStringConvertible {
    public let description: String
}
