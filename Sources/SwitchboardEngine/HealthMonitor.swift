import ConnectionLifecycle
import Foundation
import HeapModule
import Logging
import ServiceLifecycle
import SwitchboardDrivers
import StoreContract

/// How the health monitor runs.
public struct HealthMonitorConfiguration: Sendable {
    /// The server's policy; a connection's metadata may override it.
    public var policy: HealthPolicy
    /// Probes in flight at once, at most, for connections whose last check passed (or that
    /// were never checked), and as many again for those whose last check failed: targets
    /// that hang until the timeout cannot take the slots healthy ones need.
    public var maxConcurrentProbes: Int
    /// Each wait is shortened at random by up to this fraction, so checks of connections
    /// created together spread out. Never lengthened: an outage must be seen within
    /// interval × threshold (the 100k benchmark once missed that bound by 0.3 s, with ±10%).
    public var jitter: Double

    public init(policy: HealthPolicy = .standard, maxConcurrentProbes: Int = 256, jitter: Double = 0.1) {
        self.policy = policy
        self.maxConcurrentProbes = maxConcurrentProbes
        self.jitter = jitter
    }
}

/// Healthy connections and failing ones wait in separate queues with separate slots.
private enum ProbeLane {
    case passing, failing

    init(_ health: HealthRecord) { self = health.consecutiveFailures > 0 ? .failing : .passing }
}

/// One lane: the checks waiting their turn and the slots in use.
private struct ProbeQueue<Instant: InstantProtocol> {
    var waiting = Heap<HealthMonitorDue<Instant>>()
    var inFlight = 0
}

private struct HealthMonitorDue<Instant: InstantProtocol>: Comparable {
    var at: Instant
    var id: UUID
    var generation: Int
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.at < rhs.at }
    static func == (lhs: Self, rhs: Self) -> Bool { lhs.at == rhs.at && lhs.id == rhs.id && lhs.generation == rhs.generation }
}

/// Probes registered, connected and system-disconnected connections on a jittered
/// schedule, stores what it observes, and asks the engine (as `system`) for the damped
/// transitions `HealthDamping` calls for. Admin decisions are never probed or moved.
///
/// Schedules on `clock` (the continuous clock when running; tests pass a manual one and
/// move time themselves, so they wait on checks instead of sleeping).
public actor HealthMonitor<MonitorClock: Clock>: Service where MonitorClock.Duration == Duration {
    public typealias Instant = MonitorClock.Instant

    private struct Entry {
        var target: ProbeTarget
        var health: HealthCounts
        var generation: Int
        var probing = false
        /// When the check in flight was due (or started, if it started late): the next one
        /// is due an interval after it.
        var startedAt: Instant?
        /// The lane whose slot the check in flight holds.
        var lane = ProbeLane.passing
    }

    private typealias Due = HealthMonitorDue<Instant>

    private let engine: ConnectionEngine
    private let configuration: HealthMonitorConfiguration
    private let logger: Logger
    private let clock: MonitorClock
    private var entries: [UUID: Entry] = [:]
    private var passing = ProbeQueue<Instant>()
    private var failing = ProbeQueue<Instant>()
    private var nextGeneration = 0
    private var completedChecks = 0
    private var finishedProbes = 0
    /// Health records not yet stored: written together, every `healthSaveInterval`.
    private var unsavedHealth: [HealthRecord] = []
    private var savingHealth = false
    private var lastHealthSave: Instant
    private static var healthSaveInterval: Duration { .milliseconds(200) }
    /// Watched connections by kind and last observed health, for the metrics; `changedTally`
    /// holds the counts not yet published.
    private var tally: [TallyKey: Int] = [:]
    private var changedTally: Set<TallyKey> = []

    private struct TallyKey: Hashable {
        var kind: String
        var health: HealthState
    }

    public init(engine: ConnectionEngine, configuration: HealthMonitorConfiguration = .init(), clock: MonitorClock,
                logger: Logger) {
        self.engine = engine
        self.configuration = configuration
        self.clock = clock
        self.lastHealthSave = clock.now
        self.logger = logger
    }

    /// Checks completed and stored since start (for tests).
    public var checksCompleted: Int { completedChecks }

    /// Checks that have finished since start, stored or not yet (for tests).
    public var probesFinished: Int { finishedProbes }

    /// Connections the monitor is watching now.
    public var watchedIds: Set<UUID> { Set(entries.keys) }

    /// The status the monitor knows a watched connection by (it follows committed changes).
    public func watchedStatus(of id: UUID) -> ConnectionStatus? { entries[id]?.target.status }

    public func run() async throws {
        let changes = await engine.changes()
        let replicaChanges = engine.replicas.changes()
        // A replica of a shared store continues the schedule the others kept (a connection
        // due now is checked now: its last check may be a member TTL old); one process on its
        // own spreads its first round, so a restart does not check everything at once.
        try await loadCandidates(continuing: engine.replicas.isShared)
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await change in changes { await self.apply(change) }
            }
            group.addTask {
                for await _ in replicaChanges { await self.rebalance() }
            }
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                for entry in takeDue() {
                    group.addTask { await self.probe(entry) }
                }
                if let records = takeUnsavedHealth() {
                    group.addTask { await self.saveBatch(records) }
                }
                publishTally()
                try? await clock.sleep(for: nextWake())
            }
            group.cancelAll()
        }
        // What was observed last is kept (if the task was cancelled, the store refuses, and
        // the next start probes again).
        await save(unsavedHealth)
    }

    // MARK: Scheduling

    /// Loads the connections to watch that are not watched yet; answers how many. Each keeps
    /// its stored damping counts. `continuing`: each one's next check is due an interval after
    /// its last stored one (connections another replica watched until the members changed,
    /// so a move neither delays nor resets an outage's count); otherwise the first round is
    /// spread over one interval.
    @discardableResult
    private func loadCandidates(continuing: Bool) async throws -> Int {
        var after: UUID?
        var taken = 0
        while true {
            let batch = try await engine.store.probeCandidates(after: after, limit: 1000)
            guard let last = batch.last else { break }
            after = last.id
            let wanted = batch.filter { entries[$0.id] == nil && watches($0) }
            guard !wanted.isEmpty else { continue }
            let records = try await engine.health(of: wanted.map(\.id))
            let now = Date()
            for connection in wanted where entries[connection.id] == nil && watches(connection) {
                let health = records[connection.id] ?? HealthRecord(connectionId: connection.id)
                let delay = policy(connection.metadata).delay(status: connection.status, health: health)
                let first: Duration
                if continuing {
                    let since = health.checkedAt.map { Duration.seconds(now.timeIntervalSince($0)) } ?? delay
                    first = max(.zero, jittered(delay) - since)
                } else {
                    first = delay * Double.random(in: 0...1)
                }
                track(connection, health: health, after: first)
                taken += 1
            }
        }
        return taken
    }

    /// After the replicas changed: stops watching what another replica owns now, and takes
    /// on what this one owns now.
    private func rebalance() async {
        for id in Array(entries.keys) where !engine.replicas.owns(id) {
            count(entries[id], -1)
            entries[id] = nil
        }
        do {
            let taken = try await loadCandidates(continuing: true)
            if taken > 0 { engine.metrics.handedOver(taken) }
        } catch {
            logger.error("could not load the connections this replica now owns; the next change of replicas tries again",
                         metadata: ["error": "\(error)"])
        }
    }

    /// Whether the monitor probes the connection: the damped statuses, except for targets
    /// that report their own liveness (their leases are kept by `LeaseKeeper`), and only
    /// where this replica owns it.
    private func watches(_ connection: Connection) -> Bool {
        HealthDamping.isProbed(status: connection.status, lastChangedBy: connection.statusChangedBy)
            && !engine.kind(of: connection).registersItself && engine.replicas.owns(connection.id)
    }

    private func track(_ connection: Connection, health: HealthRecord, after delay: Duration) {
        nextGeneration += 1
        count(entries[connection.id], -1)
        let entry = Entry(target: ProbeTarget(connection), health: HealthCounts(health), generation: nextGeneration)
        count(entry, +1)
        entries[connection.id] = entry
        enqueue(Due(at: clock.now.advanced(by: delay), id: connection.id, generation: nextGeneration), in: ProbeLane(health))
    }

    /// Follows committed changes: newly probed connections join (with fresh counts: someone
    /// just decided about them), others leave.
    private func apply(_ connection: Connection) {
        let probed = watches(connection)
        guard var entry = entries[connection.id] else {
            if probed {
                let fresh = HealthRecord(connectionId: connection.id)
                track(connection, health: fresh, after: jittered(policy(connection.metadata).delay(status: connection.status, health: fresh)) * 0.1)
            }
            return
        }
        guard probed else {
            count(entry, -1)
            entries[connection.id] = nil
            return
        }
        if connection.status != entry.target.status && connection.statusChangedBy == .user {
            // A person just decided about it: start counting afresh, and check soon.
            let fresh = HealthRecord(connectionId: connection.id)
            track(connection, health: fresh, after: jittered(policy(connection.metadata).delay(status: connection.status, health: fresh)) * 0.1)
            return
        }
        entry.target = ProbeTarget(connection)
        entries[connection.id] = entry
    }

    private func enqueue(_ due: Due, in lane: ProbeLane) {
        switch lane {
        case .passing: passing.waiting.insert(due)
        case .failing: failing.waiting.insert(due)
        }
    }

    private func takeDue() -> [Entry] {
        let now = clock.now
        return take(from: &passing, lane: .passing, now: now) + take(from: &failing, lane: .failing, now: now)
    }

    private func take(from queue: inout ProbeQueue<Instant>, lane: ProbeLane, now: Instant) -> [Entry] {
        var due: [Entry] = []
        // Once a check is due, those due a little later start with it: one wake-up starts
        // them together and their I/O overlaps. A wake per check cost more than the check
        // itself (measured at 1k connections: context switches were most of the CPU).
        guard let first = queue.waiting.min, first.at <= now else { return [] }
        while queue.inFlight < configuration.maxConcurrentProbes, let next = queue.waiting.min,
              next.at <= now.advanced(by: Self.longestBatchWindow) {
            guard var entry = entries[next.id], entry.generation == next.generation, !entry.probing else {
                _ = queue.waiting.removeMin()
                continue
            }
            // A connection checked more often than the server's interval joins later.
            if next.at > now.advanced(by: batchWindow(for: entry.target)) { break }
            _ = queue.waiting.removeMin()
            entry.probing = true
            entry.startedAt = max(now, next.at)
            entry.lane = lane
            entries[next.id] = entry
            queue.inFlight += 1
            due.append(entry)
        }
        return due
    }

    /// How early a check may start to join others: a fiftieth of its interval, at most a
    /// quarter second (the cadence stays the same: the next check is due an interval after
    /// this one was due).
    private func batchWindow(for target: ProbeTarget) -> Duration {
        min(Self.longestBatchWindow, policy(target.metadata).interval / 50)
    }

    private static var longestBatchWindow: Duration { .milliseconds(250) }

    /// How long the scheduling loop may sleep: briefly while every probe slot is busy (one
    /// frees up within milliseconds), until the next due check otherwise (at most 50 ms, so
    /// connections that join meanwhile wait little).
    private func nextWake() -> Duration {
        var wake: Duration = .milliseconds(50)
        for queue in [passing, failing] {
            guard let next = queue.waiting.min else { continue }
            // A full lane frees a slot within milliseconds.
            wake = min(wake, queue.inFlight < configuration.maxConcurrentProbes ? clock.now.duration(to: next.at) : .milliseconds(2))
        }
        return max(.milliseconds(1), wake)
    }

    /// The server's policy with a connection's own settings (from its metadata) applied.
    private func policy(_ metadata: [String: JSONValue]) -> HealthPolicy {
        configuration.policy.overridden(by: metadata)
    }

    private func jittered(_ delay: Duration) -> Duration {
        delay * (1 - Double.random(in: 0...configuration.jitter))
    }

    // MARK: Probing

    private func probe(_ entry: Entry) async {
        let connection = entry.target.connection
        let policy = policy(entry.target.metadata)
        let driver = engine.drivers.driver(for: connection.kind)
        let limit = policy.timeout + .seconds(2)
        let result = await withDeadline(limit) { await driver.probe(connection, timeout: policy.timeout) }
            ?? CheckResult(health: .unreachable, error: "the check did not finish within \(limit)", latency: limit)
        let health = entry.health.record(for: connection.id).recording(result.health, error: result.error,
                                            latencyMilliseconds: result.latencyMilliseconds,
                                            at: Date().truncatedToMilliseconds)
        engine.metrics.probed(kind: connection.kind, latency: result.latency)
        guard engine.replicas.owns(connection.id) else {
            // Another replica owns it now (or this one's membership lapsed): its owner's
            // checks count, not this one.
            finished(connection.id, generation: entry.generation, lane: entry.lane, health: health)
            return
        }
        if let move = HealthDamping.automaticTransition(status: connection.status, lastChangedBy: connection.statusChangedBy,
                                                         health: health, policy: policy),
           isCurrent(entry) {
            // The record that justifies the move is stored before it.
            await save([health])
            do {
                try await engine.transition(connection.id, to: move.to, by: .system, reason: move.reason)
            } catch {
                // Someone else moved it first, or the return check failed: the next probe decides again.
                logger.info("automatic transition not taken", metadata: [
                    "connection": "\(connection.id.lowercasedString)", "to": "\(move.to.wireName)", "error": "\(error)",
                ])
            }
        } else {
            unsavedHealth.append(health)
        }
        finished(connection.id, generation: entry.generation, lane: entry.lane, health: health)
    }

    /// Whether nobody decided about the connection while it was being probed (a user's
    /// decision starts a new generation, and a stale probe must not act on it).
    private func isCurrent(_ entry: Entry) -> Bool {
        guard let now = entries[entry.target.id] else { return false }
        return now.generation == entry.generation && now.target.status == entry.target.status
    }

    private func finished(_ id: UUID, generation: Int, lane: ProbeLane, health: HealthRecord) {
        switch lane {
        case .passing: passing.inFlight -= 1
        case .failing: failing.inFlight -= 1
        }
        finishedProbes += 1
        guard var entry = entries[id], entry.generation == generation else { return }
        let stateChanged = entry.health.state != health.state
        if stateChanged { count(entry, -1) }
        entry.probing = false
        entry.health = HealthCounts(health)
        if stateChanged { count(entry, +1) }
        let delay = jittered(policy(entry.target.metadata).delay(status: entry.target.status, health: health))
        let next = max(clock.now, (entry.startedAt ?? clock.now).advanced(by: delay))
        entry.startedAt = nil
        entries[id] = entry
        enqueue(Due(at: next, id: id, generation: generation), in: ProbeLane(health))
    }

    // MARK: Storing health

    /// The records waiting to be stored, when it is time to store them (one write at a time;
    /// a busy store makes the next batch larger, not the queue of writes longer).
    private func takeUnsavedHealth() -> [HealthRecord]? {
        guard !savingHealth, !unsavedHealth.isEmpty,
              unsavedHealth.count >= 1000 || lastHealthSave.duration(to: clock.now) >= Self.healthSaveInterval else { return nil }
        savingHealth = true
        lastHealthSave = clock.now
        defer { unsavedHealth.removeAll(keepingCapacity: true) }
        return unsavedHealth
    }

    private func saveBatch(_ records: [HealthRecord]) async {
        await save(records)
        savingHealth = false
    }

    /// One transaction for many checks: a transaction per check was the monitor's largest
    /// cost after the HTTP exchange.
    private func save(_ records: [HealthRecord]) async {
        guard !records.isEmpty else { return }
        do {
            try await engine.store.saveHealth(records)
            completedChecks += records.count
        } catch is CancellationError {
            // Shutting down: the next start probes again.
        } catch {
            logger.error("could not store health records", metadata: ["count": "\(records.count)", "error": "\(error)"])
        }
    }

    // MARK: Metrics

    private func count(_ entry: Entry?, _ delta: Int) {
        guard let entry else { return }
        let key = TallyKey(kind: entry.target.kind, health: entry.health.state)
        tally[key, default: 0] += delta
        changedTally.insert(key)
    }

    private func publishTally() {
        if engine.replicas.watched.exchange(entries.count, ordering: .relaxed) != entries.count {
            engine.metrics.owned(entries.count)
        }
        for key in changedTally {
            engine.metrics.monitored(kind: key.kind, health: key.health, count: tally[key] ?? 0)
        }
        changedTally.removeAll(keepingCapacity: true)
    }
}

extension HealthMonitor where MonitorClock == ContinuousClock {
    public init(engine: ConnectionEngine, configuration: HealthMonitorConfiguration = .init(), logger: Logger) {
        self.init(engine: engine, configuration: configuration, clock: ContinuousClock(), logger: logger)
    }
}
