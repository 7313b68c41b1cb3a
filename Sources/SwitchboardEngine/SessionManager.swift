import ConnectionLifecycle
import Foundation
import Logging
import SwitchboardDrivers
import StoreContract
import Synchronization

/// Runs one session per connected connection this replica owns: the kind driver's
/// `runSession`, restarted with a growing pause when it fails, until the session is stopped.
actor SessionManager {
    private let drivers: DriverCatalog
    private let sink: any CollectedDataSink
    private let replicas: ReplicaSet
    private let logger: Logger
    /// Each running session with the connection it was started for.
    private var running: [UUID: (connection: Connection, task: Task<Void, Never>)] = [:]
    /// Connected connections of kinds without a session: in use, with nothing running.
    private var idle: Set<UUID> = []

    init(drivers: DriverCatalog, sink: any CollectedDataSink, replicas: ReplicaSet, logger: Logger) {
        self.drivers = drivers
        self.sink = sink
        self.replicas = replicas
        self.logger = logger
    }

    var activeSessionIds: Set<UUID> { idle.union(running.keys) }

    /// Starts the connection's session, if this replica owns it and none runs.
    func start(_ connection: Connection) {
        guard running[connection.id] == nil, !idle.contains(connection.id), replicas.owns(connection.id) else { return }
        let driver = drivers.driver(for: connection.kind)
        guard driver.hasSession else {
            idle.insert(connection.id)
            return
        }
        let sink = sink
        let logger = logger
        running[connection.id] = (connection, Task {
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
        })
    }

    /// Brings the session in line with `connection` as another replica committed it (or as
    /// it is after the members changed): running while it is connected and owned here,
    /// restarted when its target changed, stopped otherwise.
    func follow(_ connection: Connection) async {
        guard connection.status == .connected, replicas.owns(connection.id) else {
            await stop(connection.id)
            return
        }
        if let session = running[connection.id] {
            let was = session.connection
            guard was.url != connection.url || was.metadata != connection.metadata
                || was.credentialId != connection.credentialId else { return }
            await stop(connection.id)
        }
        start(connection)
    }

    /// Stops the sessions of connections this replica no longer owns.
    func stopUnowned() async {
        for id in idle where !replicas.owns(id) { idle.remove(id) }
        for id in Array(running.keys) where !replicas.owns(id) { await stop(id) }
    }

    /// Stops a session and waits until it has ended, so nothing it collects lands after.
    func stop(_ id: UUID) async {
        idle.remove(id)
        guard let task = running.removeValue(forKey: id)?.task else { return }
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
