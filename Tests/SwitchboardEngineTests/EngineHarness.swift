import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import Logging
import SwitchboardDrivers
import SwitchboardEngine
import SwitchboardStorage
import SwitchboardTestSupport

/// A real engine for tests: a SQLite file in a temporary folder, the real HTTP driver, and a
/// stand-in HTTP target on a loopback port.
struct EngineHarness {
    let engine: ConnectionEngine
    let store: SQLiteConnectionStore
    let target: StandInHTTPServer
    let recorder: EffectRecorder

    static func run<T>(checkTimeout: Duration = .seconds(2),
                       _ body: (EngineHarness) async throws -> T) async throws -> T {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var logger = Logger(label: "engine-test")
        logger.logLevel = .warning
        let store = try SQLiteConnectionStore(path: folder.file("switchboard.sqlite"))
        let recorder = EffectRecorder()
        let driver = RecordingDriver(
            wrapped: HTTPReachabilityDriver(client: client, timeout: checkTimeout, logger: logger), recorder: recorder)
        let engine = ConnectionEngine(store: store, drivers: DriverCatalog(fallback: driver), logger: logger)
        do {
            let result = try await body(EngineHarness(engine: engine, store: store, target: target, recorder: recorder))
            await engine.drainSideEffects()
            try await client.shutdown()
            await target.stop()
            return result
        } catch {
            try? await client.shutdown()
            await target.stop()
            throw error
        }
    }
}

/// Side effects in the order drivers were asked to run them.
actor EffectRecorder {
    private(set) var log: [(UUID, String)] = []

    func record(_ id: UUID, _ effect: String) { log.append((id, effect)) }

    func effects(of id: UUID) -> [String] { log.filter { $0.0 == id }.map(\.1) }
}

/// The real HTTP driver, with session effects recorded so tests can see what ran and when.
struct RecordingDriver: ConnectionDriver {
    let wrapped: HTTPReachabilityDriver
    let recorder: EffectRecorder

    func verify(_ connection: Connection) async -> CheckResult { await wrapped.verify(connection) }

    func startSession(_ connection: Connection) async throws {
        // A slow start: a later stop must still wait for it.
        try await Task.sleep(for: .milliseconds(20))
        await recorder.record(connection.id, "start")
    }

    func stopSession(_ connection: Connection) async throws { await recorder.record(connection.id, "stop") }

    func purgeData(_ connection: Connection) async throws { await recorder.record(connection.id, "purge") }
}
