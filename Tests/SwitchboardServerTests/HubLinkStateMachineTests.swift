import Logging
import SwitchboardServer
import Testing

/// The hub link's decisions, event by event: no network, no clock, no sleeping.
@Suite struct HubLinkStateMachineTests {
    typealias Action = HubLinkStateMachine.Action

    static let timing = HubLinkTiming(heartbeat: .seconds(10))

    /// No jitter unless asked: waits are exact.
    func machine(_ timing: HubLinkTiming = timing, random: Double = 0) -> HubLinkStateMachine {
        HubLinkStateMachine(timing: timing, random: { random })
    }

    func logs(_ actions: [Action]) -> [HubLinkStateMachine.LogLine] {
        actions.compactMap { if case .log(let line) = $0 { line } else { nil } }
    }

    func work(_ actions: [Action]) -> [Action] {
        actions.filter { if case .log = $0 { false } else { true } }
    }

    func registration(_ status: String = "registered", created: Bool = true) -> HubLinkStateMachine.Registration {
        .init(connectionId: "c0ffee00-0000-4000-8000-000000000001", status: status, created: created)
    }

    /// A machine that registered and had one heartbeat answered.
    func heartbeating() -> HubLinkStateMachine {
        var machine = machine()
        _ = machine.started()
        _ = machine.registered(registration())
        _ = machine.heartbeatAnswered(status: "connected")
        return machine
    }

    @Test func registersThenHeartbeatsEveryInterval() {
        var machine = machine()
        #expect(work(machine.started()) == [.sendRegister])
        #expect(machine.started().isEmpty, "a second start does nothing")

        let registered = machine.registered(registration())
        #expect(work(registered) == [.sendHeartbeat], "the first heartbeat goes at once")
        #expect(logs(registered).map(\.message) == ["registered with hub as connection c0ffee00-0000-4000-8000-000000000001 (status registered)"])

        let first = machine.heartbeatAnswered(status: "connected")
        #expect(work(first) == [.wait(.seconds(10)), .sendHeartbeat])
        #expect(logs(first) == [.init(.info, "hub reports this server as connected (was registered)")])
        for _ in 0..<3 {
            #expect(machine.heartbeatAnswered(status: "connected") == [.wait(.seconds(10)), .sendHeartbeat])
        }

        var again = self.machine()
        _ = again.started()
        let known = again.registered(registration("connected", created: false))
        #expect(logs(known).count == 1 && logs(known)[0].message.contains("registered with hub again"))
        #expect(logs(again.heartbeatAnswered(status: "connected")).isEmpty, "the status did not change")
    }

    @Test func failuresBackOffDoublingToTheCapAndAreLoggedOncePerChange() {
        var machine = machine()
        _ = machine.started()
        var waits: [Duration] = []
        var lines: [HubLinkStateMachine.LogLine] = []
        for _ in 0..<9 {
            let actions = machine.failed(.unreachable("connection refused"))
            #expect(actions.last == .sendRegister)
            waits += work(actions).compactMap { if case .wait(let duration) = $0 { duration } else { nil } }
            lines += logs(actions)
        }
        #expect(waits == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
        #expect(lines == [.init(.warning, "hub unreachable: connection refused; retrying with backoff")])

        // Another kind of failure is a change: logged once, with the hub's words.
        let refused = logs(machine.failed(.unauthorized(status: 401, detail: "the token was revoked")))
        #expect(refused.count == 1 && refused[0].level == .error && refused[0].message.contains("the token was revoked"))
        #expect(logs(machine.failed(.unauthorized(status: 403, detail: "forbidden"))).isEmpty)

        // Working again: said once, and heartbeat failures back off from the start.
        let registered = machine.registered(registration())
        #expect(logs(registered).filter { $0.message == "hub reachable again" }.count == 1)
        #expect(work(registered) == [.sendHeartbeat])
        let failed = machine.failed(.unreachable("the hub answered HTTP 503: down"))
        #expect(work(failed) == [.wait(.seconds(1)), .sendHeartbeat])
        #expect(logs(failed).count == 1)
        #expect(work(machine.failed(.unreachable("the hub answered HTTP 503: down"))) == [.wait(.seconds(2)), .sendHeartbeat])
        let back = machine.heartbeatAnswered(status: "registered")
        #expect(logs(back).map(\.message) == ["hub reachable again"])
        #expect(work(back) == [.wait(.seconds(10)), .sendHeartbeat])
    }

    @Test func theBackoffCapIsTheHeartbeatIntervalWhenThatIsLonger() {
        let slow = machine(HubLinkTiming(heartbeat: .seconds(120)))
        #expect(slow.backoff(afterFailures: 7) == .seconds(64))
        #expect(slow.backoff(afterFailures: 8) == .seconds(120))
        #expect(slow.backoff(afterFailures: 1_000) == .seconds(120))
        #expect(machine().backoff(afterFailures: 1_000) == .seconds(60))
    }

    @Test func jitterShortensEachWaitByUpToATenth() {
        var jittered = machine(random: 0.999)
        _ = jittered.started()
        _ = jittered.registered(registration())
        let wait = work(jittered.heartbeatAnswered(status: "connected")).first
        guard case .wait(let duration)? = wait else {
            Issue.record("no wait: \(String(describing: wait))")
            return
        }
        #expect(duration < .seconds(10) && duration >= .seconds(9), "\(duration)")
        let backoff = work(jittered.failed(.unreachable("refused"))).first
        guard case .wait(let pause)? = backoff else {
            Issue.record("no wait: \(String(describing: backoff))")
            return
        }
        #expect(pause < .seconds(1) && pause >= .milliseconds(900), "\(pause)")
    }

    @Test func goneStopsHeartbeatsUntilTheNextStart() {
        var machine = heartbeating()
        let gone = machine.gone()
        #expect(work(gone) == [.idle])
        #expect(logs(gone) == [.init(.warning, "hub deleted this server's connection; heartbeats stop until the next start")])
        #expect(machine.heartbeatAnswered(status: "connected").isEmpty)
        #expect(machine.failed(.unreachable("refused")).isEmpty)
        #expect(machine.notFound().isEmpty)
        #expect(machine.shutdown() == [.end], "no stop request for a connection the hub deleted")
    }

    @Test func notFoundRegistersAgain() {
        var machine = heartbeating()
        let unknown = machine.notFound()
        #expect(work(unknown) == [.sendRegister])
        #expect(logs(unknown).count == 1 && logs(unknown)[0].message.contains("registering again"))
        #expect(work(machine.registered(registration())) == [.sendHeartbeat])
        // A hub that forgets each registration at once is asked again with backoff, quietly.
        let forgotten = machine.notFound()
        #expect(forgotten == [.wait(.seconds(1)), .sendRegister])
        _ = machine.registered(registration())
        #expect(machine.notFound() == [.wait(.seconds(2)), .sendRegister])
        _ = machine.registered(registration())
        _ = machine.heartbeatAnswered(status: "connected")
        #expect(work(machine.notFound()) == [.sendRegister], "a heartbeat in between starts afresh")
    }

    @Test func aGracefulShutdownSendsTheStopRequestOnce() {
        var machine = heartbeating()
        #expect(work(machine.shutdown()) == [.sendStop, .end])
        #expect(machine.shutdown().isEmpty)
        #expect(machine.heartbeatAnswered(status: "connected").isEmpty)

        // Still failing, but the hub knows this server: it is told.
        var failing = heartbeating()
        _ = failing.failed(.unreachable("refused"))
        #expect(work(failing.shutdown()) == [.sendStop, .end])

        // Never registered: nothing to tell.
        var registering = self.machine()
        _ = registering.started()
        _ = registering.failed(.unreachable("refused"))
        #expect(registering.shutdown() == [.end])
        var idle = self.machine()
        #expect(idle.shutdown() == [.end])
        #expect(idle.started().isEmpty)
    }

    @Test func aStatusTheHubReportsIsLoggedOnceWhenItChanges() {
        var machine = heartbeating()
        var lines: [HubLinkStateMachine.LogLine] = []
        for status in ["maintenance", "maintenance", "maintenance", "ignored", "ignored", "connected"] {
            let actions = machine.heartbeatAnswered(status: status)
            #expect(work(actions) == [.wait(.seconds(10)), .sendHeartbeat], "heartbeats go on whatever the status")
            lines += logs(actions)
        }
        #expect(lines == [
            .init(.info, "hub reports this server as maintenance (was connected)"),
            .init(.info, "hub reports this server as ignored (was maintenance)"),
            .init(.info, "hub reports this server as connected (was ignored)"),
        ])
    }
}
