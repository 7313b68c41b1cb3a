import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import Logging
import SwitchboardDrivers
import SwitchboardEngine
import SwitchboardTestSupport
import Testing

/// The health monitor on a `ManualClock`: a real engine, SQLite file and HTTP stand-in,
/// but time moves only when the test moves it. So the test can say exactly when checks
/// happen and after how many failures a connection moves, and it waits for checks to finish
/// rather than sleeping and hoping the monitor ran.
struct HealthMonitorClockTests {
    static let policy = HealthPolicy(interval: .seconds(10), registeredInterval: .seconds(10), timeout: .seconds(2),
                                     failureThreshold: 3, recoveryThreshold: 2, maxBackoff: .seconds(40))

    @Test func checksAndDampingFollowTheClock() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let client = OutboundHTTP.makeClient()
        var logger = Logger(label: "monitor-clock-test")
        logger.logLevel = .warning
        let store = try TestStore.sqlite(folder.file("switchboard.sqlite"))
        let engine = ConnectionEngine(
            store: store, drivers: .builtIn(http: OutboundHTTP(client: client), credentials: FileReferenceCredentials(),
                                            timeout: .seconds(10)),
            logger: logger)
        let clock = ManualClock()
        let monitor = HealthMonitor(engine: engine, configuration: .init(policy: Self.policy, jitter: 0), clock: clock,
                                    logger: logger)
        let running = Task { try await monitor.run() }
        do {
            try await Self.checkDamping(monitor, clock: clock, engine: engine, target: target)
        } catch {
            running.cancel()
            await engine.shutdown()
            try? await client.shutdown()
            await target.stop()
            throw error
        }
        running.cancel()
        _ = try? await running.value
        await engine.shutdown()
        try await client.shutdown()
        await target.stop()
        try await store.close()
    }

    private static func checkDamping(_ monitor: HealthMonitor<ManualClock>, clock: ManualClock, engine: ConnectionEngine,
                                     target: StandInHTTPServer) async throws {
        /// Moves the clock on and waits until the monitor has looked at the new time and gone back to sleep.
        func step(_ duration: Duration) async throws {
            clock.advance(by: duration)
            try await waitUntil("the monitor asleep again after \(duration)") { clock.sleeperCount == 1 }
        }
        func status(_ id: UUID) async throws -> ConnectionStatus { try await engine.connection(id: id).status }

        try await waitUntil("the monitor asleep on the clock") { clock.sleeperCount == 1 }
        var connection = try await engine.create(NewConnection(name: "watched", url: target.switchURL, kind: "http"),
                                                 by: .user("tester"))
        for next in [ConnectionStatus.registered, .connected] {
            connection = try await engine.transition(connection.id, to: next, by: .user("tester"))
        }
        try await waitUntil("the monitor watches it, connected") { await monitor.watchedStatus(of: connection.id) == .connected }
        let requestsBeforeChecks = target.requestCount

        // A connection a person just decided about is checked a tenth of an interval later: not
        // before. (A little after: a Duration times a Double can round up by an attosecond.)
        try await step(.milliseconds(900))
        #expect(await monitor.probesFinished == 0)
        #expect(target.requestCount == requestsBeforeChecks, "checked before its time")
        try await step(.milliseconds(150))
        try await waitUntil("the first check") { await monitor.probesFinished == 1 }
        #expect(target.requestCount == requestsBeforeChecks + 1)

        // The target goes down: two failed checks, an interval apart, are not enough to move it…
        target.setSwitch(healthy: false)
        for failures in 1...2 {
            try await step(.seconds(10))
            try await waitUntil("failed check \(failures)") { await monitor.probesFinished == 1 + failures }
            #expect(try await status(connection.id) == .connected, "moved after \(failures) failures")
        }
        // …nor is waiting less than an interval (nothing is checked early)…
        try await step(.seconds(9))
        #expect(await monitor.probesFinished == 3)
        // …the third is.
        try await step(.seconds(1))
        try await waitUntil("the damped disconnect") { try await status(connection.id) == .disconnected }
        let moved = try #require(try await engine.events(connectionId: connection.id, page: 0, pageSize: 1).events.first)
        #expect(moved.actorRole == .system && moved.reason?.contains("3 consecutive checks failed") == true,
                "\(moved.reason ?? "")")
        #expect(await monitor.probesFinished == 4)
    }
}
