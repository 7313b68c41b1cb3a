import ConnectionLifecycle
import Foundation
import Logging
import SwitchboardDrivers
import StoreContract
import Synchronization

/// Runs one session per connected connection: the kind driver's `runSession`, restarted
/// with a growing pause when it fails, until the session is stopped.
actor SessionManager {
    private let drivers: DriverCatalog
    private let sink: any CollectedDataSink
    private let logger: Logger
    private var running: [UUID: Task<Void, Never>] = [:]
    /// Connected connections of kinds without a session: in use, with nothing running.
    private var idle: Set<UUID> = []

    init(drivers: DriverCatalog, sink: any CollectedDataSink, logger: Logger) {
        self.drivers = drivers
        self.sink = sink
        self.logger = logger
    }

    var activeSessionIds: Set<UUID> { idle.union(running.keys) }

    func start(_ connection: Connection) {
        guard running[connection.id] == nil, !idle.contains(connection.id) else { return }
        let driver = drivers.driver(for: connection.kind)
        guard driver.hasSession else {
            idle.insert(connection.id)
            return
        }
        let sink = sink
        let logger = logger
        running[connection.id] = Task {
            var pause: Duration = .seconds(1)
            while !Task.isCancelled {
                do {
                    try await driver.runSession(connection, sink: sink)
                    pause = .seconds(1)
                } catch is CancellationError {
                    return
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("session failed; restarting", metadata: [
                        "connection": "\(connection.id.lowercasedString)", "kind": "\(connection.kind)",
                        "error": "\(OutboundHTTP.describe(error))", "retryIn": "\(pause)",
                    ])
                }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(60))
            }
        }
    }

    /// Stops a session and waits until it has ended, so nothing it collects lands after.
    func stop(_ id: UUID) async {
        idle.remove(id)
        guard let task = running.removeValue(forKey: id) else { return }
        task.cancel()
        await task.value
    }

    func stopAll() async {
        idle.removeAll()
        for id in Array(running.keys) { await stop(id) }
    }
}

/// The store as the place sessions keep what they collect.
/// What sessions discover goes to discovery.
struct StoreSink: CollectedDataSink {
    let store: any ConnectionStore
    let discoveries: DiscoveryRelay

    func saveCollectedData(connectionId: UUID, key: String, value: JSONValue) async throws {
        try await store.saveCollectedData(connectionId: connectionId, key: key, value: value,
                                          at: Date().truncatedToMilliseconds)
    }

    func discovered(_ targets: [DiscoveredTarget], by parent: Connection) async -> Bool {
        await discoveries.deliver(targets, by: parent)
    }
}

/// Hands what sessions discover to the engine, which owns the sessions (so the link is set
/// after both exist, and does not keep the engine alive).
final class DiscoveryRelay: Sendable {
    typealias Handler = @Sendable ([DiscoveredTarget], Connection) async -> Bool
    private let handler = Mutex<Handler?>(nil)

    func attach(_ handler: @escaping Handler) { self.handler.withLock { $0 = handler } }

    func deliver(_ targets: [DiscoveredTarget], by parent: Connection) async -> Bool {
        await handler.withLock { $0 }?(targets, parent) ?? false
    }
}
