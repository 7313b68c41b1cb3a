import ConnectionLifecycle
import Foundation
import SwitchboardEngine
import SwitchboardTestSupport
import Testing

/// The health monitor against real HTTP targets on loopback: damping, recovery, and the
/// admin decisions it must never override.
@Suite struct HealthMonitorTests {
    @Test func aTargetFailingEveryOtherCheckNeverChangesAStatus() async throws {
        let target = try await StandInHTTPServer.start()
        try await MonitorHarness.run { harness in
            // Registered and connected against a healthy url, then pointed at the alternating one.
            var connected = try await harness.connection("alternating", url: target.reachableURL,
                                                         path: [.registered, .connected])
            var registered = try await harness.connection("alternating-registered", url: target.reachableURL,
                                                          path: [.registered])
            connected = try await harness.engine.change(connected.id, to: nil, patch: ConnectionPatch(url: target.alternatingURL + "/connected"),
                                                        by: .user("tester"))
            registered = try await harness.engine.change(registered.id, to: nil, patch: ConnectionPatch(url: target.alternatingURL + "/registered"),
                                                         by: .user("tester"))
            let eventsBefore = try await harness.history(connected.id).count
            try await harness.waitForChecks(40)
            #expect(try await harness.status(connected.id) == .connected)
            #expect(try await harness.status(registered.id) == .registered)
            #expect(try await harness.history(connected.id).count == eventsBefore, "no automatic events")
            let health = try #require(try await harness.health(connected.id))
            #expect(health.consecutiveFailures < 3 && health.checkedAt != nil)
        }
        await target.stop()
    }

    @Test func dampedDisconnectThenRecoveryWithSystemEvents() async throws {
        let target = try await StandInHTTPServer.start()
        try await MonitorHarness.run { harness in
            let watched = try await harness.connection("watched", url: target.switchURL, path: [.registered, .connected])
            let adminDisconnected = try await harness.connection("admin-disconnected", url: target.switchURL,
                                                                 path: [.registered, .connected, .disconnected])
            try await harness.waitForChecks(6)
            #expect(try await harness.health(watched.id)?.state == .reachable)

            target.setSwitch(healthy: false)
            try await harness.waitForStatus(watched.id, .disconnected)
            let down = try #require(try await harness.history(watched.id).last)
            #expect(down.actorRole == .system && down.actor == "system")
            #expect(down.from == .connected && down.to == .disconnected)
            #expect(down.reason?.contains("3 consecutive checks failed") == true, "\(down.reason ?? "")")
            #expect(down.reason?.contains("503") == true, "the reason names the failure: \(down.reason ?? "")")
            let health = try #require(try await harness.health(watched.id))
            #expect(health.state == .unreachable && health.consecutiveFailures >= 3)

            target.setSwitch(healthy: true)
            try await harness.waitForStatus(watched.id, .connected)
            let up = try #require(try await harness.history(watched.id).last)
            #expect(up.actorRole == .system && up.from == .disconnected && up.to == .connected)
            #expect(up.reason?.contains("reachable again") == true)

            // The admin's disconnect is never second-guessed, and never even probed.
            #expect(try await harness.status(adminDisconnected.id) == .disconnected)
            #expect(try await harness.history(adminDisconnected.id).allSatisfy { $0.actorRole == .user })
            #expect(await !harness.monitor.watchedIds.contains(adminDisconnected.id))
        }
        await target.stop()
    }

    @Test func registeredTargetsThatStayDownBecomeNotFound() async throws {
        try await MonitorHarness.run { harness in
            let target = try await StandInHTTPServer.start()
            let connection = try await harness.connection("short-lived", url: target.switchURL, path: [.registered])
            target.setSwitch(healthy: false)
            try await harness.waitForStatus(connection.id, .notFound)
            let event = try #require(try await harness.history(connection.id).last)
            #expect(event.actorRole == .system && event.from == .registered)
            #expect(await !harness.monitor.watchedIds.contains(connection.id), "not found is not probed")
            await target.stop()
        }
    }

    @Test func ignoredAndMaintenanceAreNeverMoved() async throws {
        try await MonitorHarness.run { harness in
            let ignored = try await harness.connection("ignored", url: StandInHTTPServer.refusedURL, path: [.ignored])
            let target = try await StandInHTTPServer.start()
            let maintenance = try await harness.connection("maintenance", url: target.reachableURL,
                                                           path: [.registered, .maintenance])
            // A registered connection to the same target, as a witness: once the monitor has
            // moved it (several rounds of checks after the target went), it had every chance
            // to move the other two.
            let witness = try await harness.connection("witness", url: target.reachableURL, path: [.registered])
            await target.stop()
            try await harness.waitForStatus(witness.id, .notFound)
            #expect(try await harness.status(ignored.id) == .ignored)
            #expect(try await harness.status(maintenance.id) == .maintenance)
            #expect(try await harness.health(ignored.id) == nil, "never probed")
            let watched = await harness.monitor.watchedIds
            #expect(!watched.contains(ignored.id) && !watched.contains(maintenance.id))
        }
    }

    @Test func perConnectionSettingsOverrideTheServer() async throws {
        let target = try await StandInHTTPServer.start()
        try await MonitorHarness.run { harness in
            // This one tolerates 50 failures; the server default is 3.
            let patient = try await harness.connection(
                "patient", url: target.switchURL, path: [.registered, .connected],
                metadata: [HealthPolicy.OverrideKey.failureThreshold: .number(50)])
            let standard = try await harness.connection("standard", url: target.switchURL, path: [.registered, .connected])
            target.setSwitch(healthy: false)
            try await harness.waitForStatus(standard.id, .disconnected)
            // Well past the server's threshold of 3, the patient one is still connected.
            try await waitUntil("5 failed checks of the patient connection") {
                (try await harness.health(patient.id)?.consecutiveFailures ?? 0) >= 5
            }
            #expect(try await harness.status(patient.id) == .connected)
        }
        await target.stop()
    }

    @Test func backoffStretchesTheWaitForTargetsThatStayDown() {
        let policy = HealthPolicy(interval: .seconds(15), failureThreshold: 3, maxBackoff: .seconds(300))
        let id = UUID()
        func delay(_ failures: Int, _ status: ConnectionStatus = .connected) -> Duration {
            policy.delay(status: status, health: HealthRecord(connectionId: id, consecutiveFailures: failures))
        }
        #expect(delay(0) == .seconds(15) && delay(3) == .seconds(15))
        #expect(delay(4) == .seconds(30) && delay(5) == .seconds(60))
        #expect(delay(20) == .seconds(300))
        #expect(delay(0, .registered) == .seconds(60))
    }
}
