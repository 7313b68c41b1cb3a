import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import Logging
import SwitchboardDrivers
import SwitchboardEngine
import StoreContract
import SwitchboardTestSupport
import Testing

/// A real engine with the built-in drivers and a running health monitor on a fast
/// schedule (checks every 100 ms instead of 15 s; the damping thresholds are the defaults).
/// A user's move verifies with 10 s, as the server harnesses do: under CI's load a 2 s
/// verify of a local stand-in timed out; the monitor's own checks keep the policy's 1 s.
struct MonitorHarness: Sendable {
    let engine: ConnectionEngine
    let store: any ConnectionStore
    let monitor: HealthMonitor<ContinuousClock>
    let folder: TemporaryDirectory

    static let fastPolicy = HealthPolicy(
        interval: .milliseconds(100), registeredInterval: .milliseconds(100), timeout: .seconds(1),
        failureThreshold: 3, recoveryThreshold: 2, maxBackoff: .milliseconds(400))

    /// `prepare` fills the store before the monitor starts (it then finds what is there,
    /// as after a restart).
    static func run<T: Sendable>(policy: HealthPolicy = fastPolicy, outbound: OutboundPolicy = .init(),
                                 maxConcurrentProbes: Int = 16, jitter: Double = 0.1,
                                 prepare: @Sendable (any ConnectionStore) async throws -> Void = { _ in },
                                 _ body: @Sendable (MonitorHarness) async throws -> T) async throws -> T {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let client = OutboundHTTP.makeClient()
        var logger = Logger(label: "monitor-test")
        logger.logLevel = .warning
        let store = try await TestStore.chosen(folder.file("switchboard.sqlite"))
        let drivers = DriverCatalog.builtIn(http: OutboundHTTP(client: client, policy: outbound),
                                            credentials: FileReferenceCredentials(), timeout: .seconds(10))
        let engine = ConnectionEngine(store: store, drivers: drivers, logger: logger)
        try await prepare(store)
        let monitor = HealthMonitor(engine: engine, configuration: .init(policy: policy, maxConcurrentProbes: maxConcurrentProbes,
                                                                         jitter: jitter),
                                    logger: logger)
        let running = Task { try await monitor.run() }
        let harness = MonitorHarness(engine: engine, store: store, monitor: monitor, folder: folder)
        do {
            let result = try await body(harness)
            running.cancel()
            _ = try? await running.value
            await engine.shutdown()
            try await client.shutdown()
            return result
        } catch {
            running.cancel()
            _ = try? await running.value
            await engine.shutdown()
            try? await client.shutdown()
            throw error
        }
    }

    /// Creates a connection and moves it to `status` through the engine, as a user would.
    /// Generic `http` connections get the name as a last path segment (the stand-in answers
    /// any path below its prefixes), so several can watch one stand-in without being the
    /// same target; `owner` does that for product kinds.
    func connection(_ name: String, kind: String = "http", url: String, path: [ConnectionStatus],
                    metadata: [String: JSONValue] = [:], owner: UUID? = nil) async throws -> Connection {
        let target = kind == "http" ? url.trimmingSuffix("/") + "/" + name : url
        var connection = try await engine.create(
            NewConnection(name: name, url: target, kind: kind, owner: owner, metadata: metadata), by: .user("tester"))
        for status in path {
            connection = try await engine.transition(connection.id, to: status, by: .user("tester"))
        }
        return connection
    }

    func status(_ id: UUID) async throws -> ConnectionStatus? {
        try await store.connection(id: id)?.status
    }

    func history(_ id: UUID) async throws -> [LifecycleEvent] {
        try await Seeding.history(of: id, in: store)
    }

    func health(_ id: UUID) async throws -> HealthRecord? {
        try await store.health(of: [id])[id]
    }

    /// Waits until the connection has `status`, failing the test after `timeout`.
    func waitForStatus(_ id: UUID, _ status: ConnectionStatus, timeout: Duration = .seconds(20)) async throws {
        try await waitUntil(timeout: timeout, "status \(status.wireName)") { try await self.status(id) == status }
    }

    /// Waits until the monitor has run `count` more checks of anything.
    func waitForChecks(_ count: Int, timeout: Duration = .seconds(20)) async throws {
        let start = await monitor.checksCompleted
        try await waitUntil(timeout: timeout, "\(count) more checks") { await monitor.checksCompleted >= start + count }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
