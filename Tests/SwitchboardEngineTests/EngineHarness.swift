import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import Logging
import SwitchboardDrivers
import SwitchboardEngine
import StoreContract
import SwitchboardTestSupport

/// A real engine for tests: a SQLite file in a temporary folder, the real HTTP driver, and a
/// stand-in HTTP target on a loopback port.
struct EngineHarness {
    let engine: ConnectionEngine
    let store: any ConnectionStore
    let target: StandInHTTPServer
    let recorder: EffectRecorder

    static func run<T>(checkTimeout: Duration = .seconds(10),
                       _ body: (EngineHarness) async throws -> T) async throws -> T {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var logger = Logger(label: "engine-test")
        logger.logLevel = .warning
        let store = try await TestStore.chosen(folder.file("switchboard.sqlite"))
        let recorder = EffectRecorder()
        let driver = RecordingDriver(
            wrapped: GenericHTTPDriver(http: OutboundHTTP(client: client), timeout: checkTimeout), recorder: recorder)
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

/// The real generic HTTP driver, with a session that records when it starts and stops and
/// collects one value, so tests can see what ran, in which order, and what was kept.
struct RecordingDriver: ConnectionDriver {
    let wrapped: GenericHTTPDriver
    let recorder: EffectRecorder

    func verify(_ connection: Connection) async -> CheckResult { await wrapped.verify(connection) }

    func probe(_ connection: Connection, timeout: Duration) async -> CheckResult {
        await wrapped.probe(connection, timeout: timeout)
    }

    func runSession(_ connection: Connection, sink: any CollectedDataSink) async throws {
        await recorder.record(connection.id, "start")
        try await sink.saveCollectedData(connectionId: connection.id, key: "seen", value: .string(connection.name))
        do {
            while true { try await Task.sleep(for: .seconds(60)) }
        } catch {
            await recorder.record(connection.id, "stop")
            throw error
        }
    }
}
