import ConnectionLifecycle
import Foundation

/// Every committed connection, in commit order per connection, to whoever listens (the
/// health monitor). A connection is passed on only when it is newer than the last one passed
/// on for its id: replicas hear of a change twice (their own commit, then the shared change
/// log), and a late copy must not undo a newer one.
actor ChangeFeed {
    private var listeners: [UUID: AsyncStream<Connection>.Continuation] = [:]
    /// The newest version passed on, by connection.
    private var versions: [UUID: Int64] = [:]

    func subscribe() -> AsyncStream<Connection> {
        let (stream, continuation) = AsyncStream<Connection>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let id = UUID()
        listeners[id] = continuation
        continuation.onTermination = { _ in Task { await self.remove(id) } }
        return stream
    }

    /// Passes `connection` on unless a version as new was; says whether it did.
    @discardableResult
    func publish(_ connection: Connection) -> Bool {
        guard connection.version > versions[connection.id, default: 0] else { return false }
        versions[connection.id] = connection.version
        for listener in listeners.values { listener.yield(connection) }
        return true
    }

    func finishAll() {
        for listener in listeners.values { listener.finish() }
        listeners.removeAll()
    }

    private func remove(_ id: UUID) { listeners[id] = nil }
}
