import ConnectionLifecycle
import Foundation
import SwitchboardStorage

/// Puts connections straight into a store in any status, with a creation event, so tests
/// can start from every point of the lifecycle.
public enum Seeding {
    @discardableResult
    public static func connection(
        in store: any ConnectionStore, kind: ConnectionKind, status: ConnectionStatus,
        lastChangedBy: ActorRole = .user, name: String? = nil, url: String? = nil,
        metadata: [String: JSONValue] = [:]
    ) async throws -> Connection {
        let now = Date().truncatedToMilliseconds
        let connection = Connection(
            name: name ?? "\(kind.name)-\(status.wireName)", url: url, kind: kind.name, type: kind.type,
            subType: kind.subType, status: status, metadata: metadata, createdAt: now, updatedAt: now,
            deletedAt: status == .deleted ? now : nil, statusChangedBy: lastChangedBy)
        try await store.insert(connection, event: LifecycleEvent(
            connectionId: connection.id, from: nil, to: status, actor: "seed", actorRole: lastChangedBy,
            reason: "seeded by a test", correlationId: UUID(), at: now))
        return connection
    }

    /// Every event of a connection, oldest first.
    public static func history(of id: UUID, in store: any ConnectionStore) async throws -> [LifecycleEvent] {
        var events: [LifecycleEvent] = []
        var page = 0
        while true {
            let batch = try await store.events(connectionId: id, page: page, pageSize: 500)
            events += batch.events
            if batch.events.count < 500 { break }
            page += 1
        }
        return events.reversed()
    }
}
