import Foundation
import Logging
import ServiceLifecycle
import StoreContract

/// Keeps this replica's row in the shared store alive and its `ReplicaSet` current: a
/// heartbeat every `beatInterval` answers the live members; a graceful stop removes the row,
/// so the others take this replica's share at their next heartbeat.
///
/// A heartbeat that cannot be stored leaves the last view standing until the member TTL
/// after the last one that was; then this replica owns nothing (the others have taken its
/// share by then, and two replicas must not both keep probing).
public actor ReplicaMembership: Service {
    private let engine: ConnectionEngine
    /// How long a heartbeat keeps a replica a member.
    public nonisolated let ttl: Duration
    private let address: @Sendable () -> String?
    private let logger: Logger
    private let startedAt = Date().truncatedToMilliseconds
    private var lastMembers: [ReplicaMember] = []

    public init(engine: ConnectionEngine, ttl: Duration, address: @escaping @Sendable () -> String?, logger: Logger) {
        self.engine = engine
        self.ttl = ttl
        self.address = address
        self.logger = logger
    }

    /// How often a replica says it is alive: ten times per TTL, at least every second (a row a
    /// second per replica costs the database nothing worth counting). A replica that hangs is
    /// noticed within the TTL plus a tenth of it; one whose process ended (killed, crashed)
    /// within three intervals, as PostgreSQL releases its liveness lock at once. A process on
    /// its own store only keeps its row current for `GET /api/system/replicas`: once per TTL.
    public var beatInterval: Duration { engine.replicas.isShared ? min(ttl / 10, .seconds(1)) : ttl }

    /// The members as the last stored heartbeat answered them.
    public var members: [ReplicaMember] { lastMembers }

    /// The first heartbeat: afterwards this replica knows what it owns (call before the
    /// monitor and the sessions start).
    public func join() async throws {
        let wasMember = try await beat(applying: false)
        if engine.replicas.isShared && lastMembers.count > 1 && !wasMember {
            // This replica takes its share only once every other member has seen it: once each
            // has stored a heartbeat (whose answer lists the members) after this replica's
            // second one, which began after its first was stored. Waiting a fixed two intervals
            // was not enough on a loaded machine (an old owner checked again after a new one).
            // A replica restarted within the TTL under its id never left: it takes its share at once.
            try await Task.sleep(for: beatInterval)
            try await beat(applying: false)
            let seen = lastMembers.first { $0.id == engine.replicas.me }?.heartbeatAt ?? .distantFuture
            // Members that stop beating drop out of the answer after the TTL, so this ends.
            while !lastMembers.allSatisfy({ $0.id == engine.replicas.me || $0.heartbeatAt > seen }) {
                try await Task.sleep(for: beatInterval)
                try await beat(applying: false)
            }
        }
        try await beat()
        logger.info("joined the replicas", metadata: ["replica": "\(engine.replicas.me)",
                                                      "members": "\(lastMembers.map(\.id).joined(separator: ","))"])
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // A stop must not wait out the interval (a SQLite server's is the whole TTL).
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.beatInterval) }
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            do {
                try await beat()
            } catch {
                logger.warning("could not store this replica's heartbeat", metadata: [
                    "error": "\(error)", "ownsUntil": "\(ttl) after the last one stored",
                ])
                if engine.replicas.noticeLapse() {
                    logger.warning("no heartbeat stored within the member TTL: this replica owns nothing until one is")
                    await engine.rebalanceSessions()
                }
            }
        }
        do {
            try await engine.store.leave(engine.replicas.me)
        } catch {
            logger.warning("could not remove this replica's row; the others take its share after the member TTL",
                           metadata: ["error": "\(error)"])
        }
    }

    /// Stores a heartbeat and (when `applying`) follows the members it answers; says whether
    /// this replica's id was a member before it.
    @discardableResult
    private func beat(applying: Bool = true) async throws -> Bool {
        let sent = ContinuousClock.now
        let answer = try await engine.store.heartbeat(engine.replicas.me, startedAt: startedAt,
                                                      ownedConnections: engine.replicas.watchedConnections,
                                                      address: address(), ttl: ttl, endedAfter: beatInterval * 3)
        let members = answer.members
        lastMembers = members
        guard applying else { return answer.wasMember }
        // The stored heartbeat vouches from when it was sent: the others count the TTL from
        // the database's clock at about that moment.
        let validity = ttl - (ContinuousClock.now - sent)
        let before = engine.replicas.members
        if engine.replicas.update(members: members.map(\.id), validFor: validity) {
            if before != members.map(\.id) {
                logger.info("the replicas changed", metadata: [
                    "before": "\(before.joined(separator: ","))", "now": "\(members.map(\.id).joined(separator: ","))",
                ])
            }
            await engine.rebalanceSessions()
        }
        return answer.wasMember
    }
}
