import ConnectionLifecycle
import Foundation
import StoreContract

/// Puts connections straight into a store in any status, with a creation event, so tests
/// can start from every point of the lifecycle.
public enum Seeding {
    @discardableResult
    public static func connection(
        in store: any ConnectionStore, kind: ConnectionKind, status: ConnectionStatus,
        lastChangedBy: ActorRole = .user, name: String? = nil, url: String? = nil,
        metadata: [String: JSONValue] = [:], parent: UUID? = nil
    ) async throws -> Connection {
        let now = Date().truncatedToMilliseconds
        var metadata = metadata
        // As a cluster scan records its finds: the column, and the id in metadata for clients.
        if let parent { metadata["parentConnectionId"] = .string(parent.lowercasedString) }
        let connection = Connection(
            name: name ?? "\(kind.name)-\(status.wireName)", url: url, kind: kind.name, type: kind.type,
            subType: kind.subType, status: status, metadata: metadata, createdAt: now, updatedAt: now,
            deletedAt: status == .deleted ? now : nil, statusChangedBy: lastChangedBy, parentId: parent)
        try await store.insert(connection, event: LifecycleEvent(
            connectionId: connection.id, from: nil, to: status, actor: "seed", actorRole: lastChangedBy,
            reason: "seeded by a test", correlationId: UUID(), at: now))
        return connection
    }

    /// `count` connections made by `make(index)`, each with its creation event, inserted
    /// 10,000 to a transaction: a large store in seconds. Answers their ids in order.
    @discardableResult
    public static func many(in store: any ConnectionStore, count: Int,
                            _ make: (Int) -> Connection) async throws -> [UUID] {
        var ids: [UUID] = []
        ids.reserveCapacity(count)
        var batch: [(Connection, LifecycleEvent)] = []
        for index in 0..<count {
            let connection = make(index)
            ids.append(connection.id)
            batch.append((connection, LifecycleEvent(
                connectionId: connection.id, from: nil, to: connection.status, actor: "seed", actorRole: .system,
                reason: nil, correlationId: UUID(), at: connection.createdAt)))
            if batch.count == 10_000 {
                try await store.insert(contentsOf: batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        try await store.insert(contentsOf: batch)
        return ids
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
