import ConnectionLifecycle
import Foundation
import HeapModule
import Logging
import ServiceLifecycle
import SwitchboardDrivers
import StoreContract

/// What a peer server sends with each heartbeat: its build and a summary of its own
/// connections (kept as its connection's collected data).
public struct HeartbeatReport: Sendable, Hashable {
    public var version: String?
    public var build: String?
    public var advertiseURL: String?
    /// `{"totalCount": N, "byStatus": {...}, "byKind": {...}}` as the peer sent it.
    public var summary: JSONValue

    public init(version: String?, build: String?, advertiseURL: String?, summary: JSONValue) {
        self.version = version
        self.build = build
        self.advertiseURL = advertiseURL
        self.summary = summary
    }
}

/// The hub side of peer registration. Heartbeats keep a lease per peer connection; the
/// lifecycle decides what a heartbeat or a lapsed lease may move (a heartbeat asks for
/// `connected` as `system`, so an admin's maintenance, ignore or disconnect stands; a lapsed
/// lease asks for `disconnected`). Expiries wait in a schedule ordered by time, so nothing
/// scans every row; each one re-reads the stored health first (a heartbeat another process
/// took counts) and every move is the engine's compare-and-set.
public actor LeaseKeeper: Service {
    /// The collected-data key of the latest heartbeat.
    public static let dataKey = "heartbeat"

    private struct Due: Comparable {
        var at: ContinuousClock.Instant
        var id: UUID
        static func < (lhs: Due, rhs: Due) -> Bool { lhs.at < rhs.at }
    }

    private let engine: ConnectionEngine
    /// What is known of each peer's liveness (its kind's driver reads it to verify).
    public nonisolated let leases: HeartbeatLeases
    private let logger: Logger
    private let clock = ContinuousClock()
    /// One entry per leased connection, at or before its lease's end: a heartbeat does not
    /// add one, the entry reschedules itself when it finds the lease renewed.
    private var schedule = Heap<Due>()
    private var scheduled: Set<UUID> = []
    /// One lock per peer connection: its heartbeat, expiry and stop never interleave.
    private let peerLocks = ConnectionLocks()
    private var wakeUp: AsyncStream<Void>.Continuation?

    public init(engine: ConnectionEngine, leases: HeartbeatLeases, logger: Logger) {
        self.engine = engine
        self.leases = leases
        self.logger = logger
    }

    // MARK: Requests from peers

    /// Records a heartbeat from the caller's server `serverId` of `kind`: renews its lease,
    /// keeps the report, and moves the connection to `connected` when the lifecycle lets the
    /// system do so. Throws `unknownServer` (never registered by the caller) or `gone`.
    public func heartbeat(kind: String, serverId: UUID, report: HeartbeatReport,
                          by principal: Principal) async throws -> (connection: Connection, lease: HeartbeatLeases.Lease) {
        let found = try await registered(kind: kind, serverId: serverId, by: principal)
        return try await peerLocks.withLock(found.id) {
            try await self.recordHeartbeat(found.id, serverId: serverId, report: report)
        }
    }

    /// One peer's heartbeat, expiry and stop run one at a time (under its lock), each on
    /// the connection as stored then, so none acts on what another just changed.
    private func recordHeartbeat(_ id: UUID, serverId: UUID, report: HeartbeatReport) async throws
        -> (connection: Connection, lease: HeartbeatLeases.Lease) {
        let current = try await live(id, serverId: serverId)
        let at = engine.now().truncatedToMilliseconds
        let lease = leases.beat(id, at: at)
        add(id, after: leases.duration)
        try await engine.store.saveHealth([HealthRecord(connectionId: id, state: .reachable, checkedAt: at,
                                                        latencyMilliseconds: 0, consecutiveSuccesses: 1)])
        try await engine.store.saveCollectedData(connectionId: id, key: Self.dataKey,
                                                 value: Self.data(report, at: at, lease: lease), at: at)
        let reason = current.status == .registered ? "first heartbeat at \(Self.text(at))" : "heartbeats resumed at \(Self.text(at))"
        return (try await move(current, to: .connected, reason: reason), lease)
    }

    /// The peer says it is stopping: its lease ends now and a connected peer becomes
    /// `disconnected` ("server stopped"), its history kept.
    public func stopped(kind: String, serverId: UUID, by principal: Principal) async throws -> Connection {
        let found = try await registered(kind: kind, serverId: serverId, by: principal)
        return try await peerLocks.withLock(found.id) {
            try await self.recordStop(found.id, serverId: serverId)
        }
    }

    private func recordStop(_ id: UUID, serverId: UUID) async throws -> Connection {
        let current = try await live(id, serverId: serverId)
        let at = engine.now().truncatedToMilliseconds
        let lastHeartbeat = leases.lease(of: id)?.lastHeartbeat
        leases.end(id, at: at)
        try await recordLapse(id, lastHeartbeat: lastHeartbeat, error: "server stopped at \(Self.text(at))")
        return try await move(current, to: .disconnected, reason: "server stopped")
    }

    /// Meshery's `DELETE /api/integrations/connections/meshery/{serverId}`: the transition
    /// to `deleted`, by the caller.
    public func deregister(kind: String, serverId: UUID, by principal: Principal, correlationId: UUID) async throws -> Connection {
        let found = try await registered(kind: kind, serverId: serverId, by: principal)
        let deleted = try await engine.transition(found.id, to: .deleted, by: principal, reason: "server deregistered",
                                                  correlationId: correlationId)
        leases.forget(found.id)
        return deleted
    }

    /// The connection as stored now; `gone` when it was deleted meanwhile.
    private func live(_ id: UUID, serverId: UUID) async throws -> Connection {
        let current = try await engine.connection(id: id)
        guard current.status != .deleted else {
            leases.forget(id)
            throw Self.gone(current, serverId: serverId)
        }
        return current
    }

    static func gone(_ connection: Connection, serverId: UUID) -> EngineError {
        EngineError.gone(connection.id, detail: "this hub's connection \(connection.id.lowercasedString) for server \(serverId.lowercasedString) was deleted at \(text(connection.updatedAt)); heartbeats are refused until the server registers again (it does at its next start)")
    }

    /// The caller's live connection for the server; `gone` when only a tombstone is left.
    private func registered(kind: String, serverId: UUID, by principal: Principal) async throws -> Connection {
        let fingerprint = await engine.drivers.driver(for: kind).fingerprint(
            of: Connection(name: "", kind: kind, type: "", subType: "", status: .registered,
                           metadata: [MesheryDriver.serverIdKey: .string(serverId.lowercasedString)],
                           createdAt: .distantPast, updatedAt: .distantPast))
        guard let fingerprint, let found = try await engine.store.latestConnection(owner: principal.userId, fingerprint: fingerprint)
        else { throw EngineError.unknownServer(serverId) }
        guard found.status != .deleted else {
            // A spoke stops at this answer: a line per refusal shows one that does not.
            logger.info("refused a request from a server whose connection was deleted",
                        metadata: ["server": "\(serverId.lowercasedString)", "connection": "\(found.id.lowercasedString)"])
            throw Self.gone(found, serverId: serverId)
        }
        return found
    }

    /// Asks for `status` as the system, when the lifecycle allows it from where the
    /// connection is; otherwise (an admin's decision, a race lost to one) leaves it.
    private func move(_ connection: Connection, to status: ConnectionStatus, reason: String) async throws -> Connection {
        let request = TransitionRequest(from: connection.status, to: status, actor: .system, lastChangedBy: connection.statusChangedBy)
        guard connection.status != status, case .allowed = Lifecycle.decide(request, kind: engine.kind(of: connection)) else {
            return connection
        }
        do {
            return try await engine.transition(connection.id, to: status, by: .system, reason: reason)
        } catch EngineError.rejected(let now, _, _), EngineError.verifyFailed(let now, _, _) {
            return now
        }
    }

    /// Stores that the lease lapsed: unreachable, the last heartbeat kept as the check time.
    private func recordLapse(_ id: UUID, lastHeartbeat: Date?, error: String) async throws {
        try await engine.store.saveHealth([HealthRecord(connectionId: id, state: .unreachable, checkedAt: lastHeartbeat,
                                                        latencyMilliseconds: 0, lastError: error, consecutiveFailures: 1)])
    }

    // MARK: Lease expiry

    public func run() async throws {
        let (wakes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        wakeUp = continuation
        await cancelWhenGracefulShutdown {
            await self.restoreLeases()
            var waking = wakes.makeAsyncIterator()
            while !Task.isCancelled {
                if let next = await self.nextDue() {
                    try? await Task.sleep(until: next, clock: .continuous)
                } else {
                    guard await waking.next() != nil else { return }
                }
                await self.expireDue()
            }
        }
    }

    private func nextDue() -> ContinuousClock.Instant? { schedule.min?.at }

    private func add(_ id: UUID, after delay: Duration) {
        guard scheduled.insert(id).inserted else { return }
        schedule.insert(Due(at: clock.now + delay, id: id))
        wakeUp?.yield()
    }

    /// The wait until `lease` runs out (at least a millisecond, at most a day).
    private func remaining(_ lease: HeartbeatLeases.Lease, at now: Date) -> Duration {
        .milliseconds(Int64(min(max(lease.expiresAt.timeIntervalSince(now), 0), 86_400) * 1000) + 1)
    }

    /// After a start, every peer whose last heartbeat counted (and every connected one) gets
    /// one lease from now: it could not reach a hub that was down. A store that cannot be
    /// read yet is tried again, since without this no connected peer would ever lapse.
    private func restoreLeases() async {
        var warned = false
        while !Task.isCancelled {
            do {
                try await restoreLeasesOnce()
                return
            } catch {
                if !warned {
                    logger.warning("cannot read the registered servers' leases yet; trying again every second",
                                   metadata: ["error": "\(error)"])
                    warned = true
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func restoreLeasesOnce() async throws {
        let kinds = engine.kinds.selfRegistering
        guard !kinds.isEmpty else { return }
        let at = engine.now()
        let live = ConnectionStatus.allCases.filter { $0 != .deleted }
        var page = 0
        while true {
            let listing = try await engine.list(ConnectionQuery(kinds: kinds, statuses: live, page: page, pageSize: 1000))
            let health = try await engine.health(of: listing.connections.map(\.id))
            for connection in listing.connections {
                let last = health[connection.id].flatMap { $0.state == .reachable ? $0.checkedAt : nil }
                guard last != nil || connection.status == .connected else { continue }
                leases.restore(connection.id, .init(lastHeartbeat: last, expiresAt: at.addingTimeInterval(leases.duration.timeInterval)))
                add(connection.id, after: leases.duration)
            }
            if listing.connections.count < 1000 { break }
            page += 1
        }
    }

    private func expireDue() async {
        while let first = schedule.min, first.at <= clock.now {
            schedule.removeMin()
            scheduled.remove(first.id)
            do {
                // Every replica keeps a schedule of the leases it knows; one at a time acts on
                // a lapse (a job lock on the shared store), and the next finds it recorded.
                try await peerLocks.withLock(first.id) {
                    try await self.engine.exclusively("hub-lease-expiry") { try await self.expire(first.id) }
                }
            } catch {
                logger.warning("could not end a lapsed lease; trying again shortly",
                               metadata: ["connection": "\(first.id.lowercasedString)", "error": "\(error)"])
                add(first.id, after: .seconds(1))
            }
        }
    }

    /// A lease may have run out (under the peer's lock): unless it was renewed meanwhile, here
    /// or (as the stored health shows) by another process, the lapse is recorded whatever
    /// the status, and a connected peer becomes `disconnected`.
    private func expire(_ id: UUID) async throws {
        guard let lease = leases.lease(of: id) else { return }
        let now = engine.now()
        if lease.isAlive(at: now) {
            add(id, after: remaining(lease, at: now))  // renewed since this entry was made
            return
        }
        guard let connection = try await engine.connectionIfPresent(id: id), connection.status != .deleted else {
            leases.forget(id)
            return
        }
        // Already recorded as lapsed or stopped (and not connected): nothing more to say.
        let stored = try await engine.health(of: [id])[id]
        let alive = stored?.state == .reachable
        guard alive || connection.status == .connected else { return }
        if alive, let beat = stored?.checkedAt, beat > (lease.lastHeartbeat ?? .distantPast) {
            let renewed = leases.beat(id, at: beat)
            if renewed.isAlive(at: now) {
                add(id, after: remaining(renewed, at: now))
                return
            }
        }
        let since = lease.lastHeartbeat.map(Self.text) ?? "this hub started"
        try await recordLapse(id, lastHeartbeat: lease.lastHeartbeat, error: "no heartbeat since \(since)")
        let moved = try await move(connection, to: .disconnected, reason: "no heartbeat since \(since)")
        if moved.status == .disconnected && connection.status != .disconnected {
            logger.info("a peer server's lease ran out", metadata: ["connection": "\(id.lowercasedString)", "since": "\(since)"])
        }
    }

    // MARK: Wording

    static func text(_ date: Date) -> String { date.formatted(.iso8601) }

    static func data(_ report: HeartbeatReport, at: Date, lease: HeartbeatLeases.Lease) -> JSONValue {
        var object: [String: JSONValue] = [
            "receivedAt": .string(text(at)),
            "leaseExpiresAt": .string(text(lease.expiresAt)),
            "summary": report.summary,
        ]
        if let version = report.version { object["version"] = .string(version) }
        if let build = report.build { object["build"] = .string(build) }
        if let url = report.advertiseURL { object["advertiseUrl"] = .string(url) }
        return .object(object)
    }
}
