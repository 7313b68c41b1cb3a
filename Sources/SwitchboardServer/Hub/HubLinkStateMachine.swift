import Logging

/// How often the hub link heartbeats, and how it backs off while the hub cannot be reached.
public struct HubLinkTiming: Sendable, Equatable {
    /// Time between heartbeats (`--hub-heartbeat`).
    public var heartbeat: Duration
    /// The first wait after a failure; each further failure doubles it.
    public var backoffStart: Duration
    /// The longest wait after failures (the heartbeat interval when that is longer).
    public var backoffCap: Duration
    /// Up to this fraction is taken off each wait at random, so spokes started together do
    /// not keep knocking on the hub together.
    public var jitter: Double

    public init(heartbeat: Duration, backoffStart: Duration = .seconds(1), backoffCap: Duration = .seconds(60),
                jitter: Double = 0.1) {
        self.heartbeat = heartbeat
        self.backoffStart = backoffStart
        self.backoffCap = backoffCap
        self.jitter = jitter
    }
}

/// Why a request to the hub did not work.
public enum HubLinkFailure: Error, Sendable, Equatable {
    /// No answer (refused, timed out, name not resolved) or a 5xx.
    case unreachable(String)
    /// 401 or 403: the hub does not accept this server's token.
    case unauthorized(status: Int, detail: String)
    /// Another 4xx.
    case rejected(status: Int, detail: String)
    /// A 3xx: not followed, so that the token goes to the configured hub URL only.
    case redirected(status: Int, location: String)
    /// The token file cannot be read now.
    case unreadableToken(String)
    /// An answer that is not the wire protocol's (a proxy's page, say).
    case unexpectedAnswer(status: Int, detail: String)

    /// Failures of one kind are logged once, however often they repeat.
    enum Kind: Equatable {
        case unreachable, unauthorized, rejected, redirected, unreadableToken, unexpectedAnswer
    }

    var kind: Kind {
        switch self {
        case .unreachable: .unreachable
        case .unauthorized: .unauthorized
        case .rejected: .rejected
        case .redirected: .redirected
        case .unreadableToken: .unreadableToken
        case .unexpectedAnswer: .unexpectedAnswer
        }
    }

    /// What happened, in a few words (for the stop request, which is not retried).
    var reason: String {
        switch self {
        case .unreachable(let reason), .unreadableToken(let reason): reason
        case .unauthorized(let status, let detail), .rejected(let status, let detail),
             .unexpectedAnswer(let status, let detail): "HTTP \(status): \(detail)"
        case .redirected(let status, let location): "HTTP \(status) redirect to \(location), not followed"
        }
    }

    /// The log line: what happened and what the operator can do.
    var logLine: HubLinkStateMachine.LogLine {
        switch self {
        case .unreachable(let reason):
            .init(.warning, "hub unreachable: \(reason); retrying with backoff")
        case .unauthorized(let status, let detail):
            .init(.error, "hub refused this server's token (HTTP \(status)): \(detail); put a token the hub accepts in the hub token file (it is read again before each try); retrying with backoff")
        case .rejected(let status, let detail):
            .init(.error, "hub rejected the request (HTTP \(status)): \(detail); retrying with backoff")
        case .redirected(let status, let location):
            .init(.error, "hub answered with a redirect (HTTP \(status) to \(location)), which is not followed so that the token goes only to the configured hub URL; set --hub to the address it redirects to; retrying with backoff")
        case .unreadableToken(let reason):
            .init(.error, "\(reason); retrying with backoff")
        case .unexpectedAnswer(let status, let detail):
            .init(.error, "hub's answer is not what this server expects (HTTP \(status)): \(detail); check that --hub names a Switchboard hub; retrying with backoff")
        }
    }
}

/// The spoke's side of the hub link as a pure state machine (in the style of postgres-nio's):
/// each event returns the actions to run, in order. It does no I/O and reads no clock, so
/// every sequence is testable without sleeping or a network; `HubLink` runs the actions.
///
/// register → (first heartbeat at once) → heartbeat every interval; failures back off from
/// `backoffStart`, doubling, to the cap, and each kind of failure is logged once until a
/// request works again ("hub reachable again"). 410 stops heartbeats until the next start;
/// 404 registers again; a graceful shutdown sends the stop request once.
public struct HubLinkStateMachine: Sendable {
    public enum Action: Sendable, Equatable {
        /// Register (read the token file, POST the registration) and report the answer.
        case sendRegister
        /// Send a heartbeat (with a fresh summary) and report the answer.
        case sendHeartbeat
        /// Send the stop request once, with a short timeout; its answer does not matter.
        case sendStop
        case wait(Duration)
        case log(LogLine)
        /// Nothing more to do until the shutdown (the hub deleted this server's connection).
        case idle
        /// The link is done.
        case end
    }

    public struct LogLine: Sendable, Equatable, CustomStringConvertible {
        public var level: Logger.Level
        public var message: String

        public init(_ level: Logger.Level, _ message: String) {
            self.level = level
            self.message = message
        }

        public var description: String { "\(level): \(message)" }
    }

    /// The hub's answer to a registration.
    public struct Registration: Sendable, Equatable {
        public var connectionId: String
        public var status: String
        /// 201 (new) rather than 200 (already registered by this token's user).
        public var created: Bool

        public init(connectionId: String, status: String, created: Bool) {
            self.connectionId = connectionId
            self.status = status
            self.created = created
        }
    }

    private enum State: Equatable {
        case initial
        case registering(failures: Int)
        case heartbeating(failures: Int)
        /// 410: the hub deleted this server's connection.
        case gone
        case ended
    }

    private var state = State.initial
    /// The kind of failure last logged; nil while requests work.
    private var failing: HubLinkFailure.Kind?
    /// The status the hub last reported for this server.
    private var hubStatus: String?
    /// 404s in a row with no heartbeat answered between: a hub that forgets each
    /// registration at once is asked again with backoff, not in a tight loop.
    private var unknownStreak = 0
    private let timing: HubLinkTiming
    private let random: @Sendable () -> Double

    /// `random` answers a number in 0..<1 for the jitter (tests pass a constant).
    public init(timing: HubLinkTiming, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.timing = timing
        self.random = random
    }

    public mutating func started() -> [Action] {
        guard state == .initial else { return [] }
        state = .registering(failures: 0)
        return [.log(.init(.info, "registering with the hub")), .sendRegister]
    }

    public mutating func registered(_ answer: Registration) -> [Action] {
        guard case .registering = state else { return [] }
        var actions = recovered()
        state = .heartbeating(failures: 0)
        hubStatus = answer.status
        let line = answer.created
            ? "registered with hub as connection \(answer.connectionId) (status \(answer.status))"
            : "registered with hub again as connection \(answer.connectionId) (status \(answer.status); it knew this server, details refreshed)"
        actions.append(.log(.init(.info, line)))
        // The first heartbeat at once: the hub counts this server connected from it.
        actions.append(.sendHeartbeat)
        return actions
    }

    public mutating func heartbeatAnswered(status: String) -> [Action] {
        guard case .heartbeating = state else { return [] }
        var actions = recovered()
        state = .heartbeating(failures: 0)
        unknownStreak = 0
        if status != hubStatus {
            // An admin's maintenance or ignored is the hub's business: noted, and heartbeats go on.
            actions.append(.log(.init(.info, "hub reports this server as \(status)" + (hubStatus.map { " (was \($0))" } ?? ""))))
            hubStatus = status
        }
        actions += [.wait(jittered(timing.heartbeat)), .sendHeartbeat]
        return actions
    }

    public mutating func failed(_ failure: HubLinkFailure) -> [Action] {
        var actions: [Action] = []
        if failing != failure.kind {
            failing = failure.kind
            actions.append(.log(failure.logLine))
        }
        switch state {
        case .registering(let failures):
            state = .registering(failures: failures + 1)
            return actions + [.wait(jittered(backoff(afterFailures: failures + 1))), .sendRegister]
        case .heartbeating(let failures):
            state = .heartbeating(failures: failures + 1)
            return actions + [.wait(jittered(backoff(afterFailures: failures + 1))), .sendHeartbeat]
        case .initial, .gone, .ended:
            return []
        }
    }

    /// 410 to a heartbeat.
    public mutating func gone() -> [Action] {
        guard case .heartbeating = state else { return [] }
        let actions = recovered()
        state = .gone
        return actions + [.log(.init(.warning, "hub deleted this server's connection; heartbeats stop until the next start")), .idle]
    }

    /// 404 to a heartbeat.
    public mutating func notFound() -> [Action] {
        guard case .heartbeating = state else { return [] }
        var actions = recovered()
        unknownStreak += 1
        state = .registering(failures: 0)
        if unknownStreak == 1 {
            actions.append(.log(.init(.warning, "hub does not know this server (HTTP 404; was its database replaced?); registering again")))
        } else {
            actions.append(.wait(jittered(backoff(afterFailures: unknownStreak - 1))))
        }
        return actions + [.sendRegister]
    }

    /// Graceful shutdown: the stop request once, if the hub knows this server.
    public mutating func shutdown() -> [Action] {
        switch state {
        case .ended:
            return []
        case .heartbeating:
            state = .ended
            return [.log(.init(.info, "telling the hub this server stops")), .sendStop, .end]
        case .initial, .registering, .gone:
            state = .ended
            return [.end]
        }
    }

    /// "hub reachable again" when failures were logged.
    private mutating func recovered() -> [Action] {
        guard failing != nil else { return [] }
        failing = nil
        return [.log(.init(.info, "hub reachable again"))]
    }

    /// The wait after `failures` failures in a row: `backoffStart` doubling, at most the cap
    /// (or the heartbeat interval when longer). Without jitter.
    public func backoff(afterFailures failures: Int) -> Duration {
        let cap = max(timing.backoffCap, timing.heartbeat)
        let doubled = timing.backoffStart * (1 << min(max(failures - 1, 0), 30))
        return min(doubled, cap)
    }

    /// `duration` shortened at random by up to `jitter` of it.
    func jittered(_ duration: Duration) -> Duration {
        let shortening = timing.jitter * min(max(random(), 0), 1)
        return shortening == 0 ? duration : duration * (1 - shortening)
    }
}
