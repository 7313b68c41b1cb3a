import ConnectionLifecycle
import Foundation

/// Every committed connection, in commit order per connection, to whoever listens (the
/// health monitor now; the live change stream later).
actor ChangeFeed {
    private var listeners: [UUID: AsyncStream<Connection>.Continuation] = [:]

    func subscribe() -> AsyncStream<Connection> {
        let (stream, continuation) = AsyncStream<Connection>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let id = UUID()
        listeners[id] = continuation
        continuation.onTermination = { _ in Task { await self.remove(id) } }
        return stream
    }

    func publish(_ connection: Connection) {
        for listener in listeners.values { listener.yield(connection) }
    }

    func finishAll() {
        for listener in listeners.values { listener.finish() }
        listeners.removeAll()
    }

    private func remove(_ id: UUID) { listeners[id] = nil }
}
