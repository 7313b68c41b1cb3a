import ConnectionLifecycle
import Foundation
import Logging
import SwitchboardDrivers
import StoreContract

/// The one path every change to a connection takes: load, ask the lifecycle, verify when
/// the edge says so, commit with compare-and-set (change and event in one transaction),
/// then queue the side effects in commit order.
public final class ConnectionEngine: Sendable {
    /// Only the engine's module reaches the store: the API reads through `EngineReads`.
    let store: any ConnectionStore
    public let kinds: KindCatalog
    public let drivers: DriverCatalog
    /// Lends secrets not stored yet to a check (a new connection's own credential).
    let credentials: StoredCredentials?
    /// Seals the credentials a change writes, opens those it reads.
    let sealed: SealedCredentials
    public let metrics: EngineMetrics
    private let sessions: SessionManager
    private let effects: SideEffectRunner
    let feed = ChangeFeed()
    let locks = ConnectionLocks()
    let logger: Logger
    let now: @Sendable () -> Date
    private let discoveries = DiscoveryRelay()
    /// Which connections this process probes and runs sessions for (all of them, unless it
    /// is one of several replicas of a shared store).
    public let replicas: ReplicaSet

    /// How often a request re-reads and re-decides after losing a compare-and-set race.
    static let maxAttempts = 5

    public init(
        store: any ConnectionStore, kinds: KindCatalog = .builtIn, drivers: DriverCatalog,
        vault: SecretsVault? = nil, credentials: StoredCredentials? = nil, metrics: EngineMetrics = .discarded,
        replicas: ReplicaSet = .solo(), logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.replicas = replicas
        self.sealed = SealedCredentials(store: store, vault: vault)
        self.credentials = credentials
        self.kinds = kinds
        self.drivers = drivers
        self.metrics = metrics
        self.sessions = SessionManager(drivers: drivers, sink: StoreSink(store: store, discoveries: discoveries),
                                       replicas: replicas, logger: logger)
        self.effects = SideEffectRunner(sessions: sessions, store: store, logger: logger, now: now)
        self.logger = logger
        self.now = now
        discoveries.attach { [weak self] targets, parent in await self?.discoverChildren(targets, of: parent) ?? false }
    }

    // MARK: Running

    /// Starts the sessions of every connected connection this process owns (at server
    /// start: what was connected before a restart is connected again).
    public func resumeSessions() async throws {
        var after: UUID?
        while true {
            let batch = try await store.probeCandidates(after: after, limit: 1000)
            for connection in batch where connection.status == .connected {
                await effects.enqueueFollow(connection)
            }
            guard let last = batch.last else { break }
            after = last.id
        }
    }

    /// After the replicas changed: sessions of connections this replica no longer owns
    /// stop, and those of connected connections it now owns start.
    public func rebalanceSessions() async {
        await sessions.stopUnowned()
        do {
            try await resumeSessions()
        } catch {
            logger.error("could not read the connected connections to start the sessions this replica now owns; the next change of replicas tries again",
                         metadata: ["error": "\(error)"])
        }
    }

    /// Changes another replica committed, as the shared change log told of them: the monitor
    /// hears of them, and sessions follow them where this replica owns the connection.
    func followCommitted(elsewhere connections: [Connection]) async {
        for connection in connections {
            _ = try? await locks.withLock(connection.id) {
                guard await self.feed.publish(connection) else { return }
                await self.effects.enqueueFollow(connection)
            }
        }
    }

    /// Runs `body` while no other replica of the store runs `job` (start-up repairs and
    /// imports, re-sealing): see `ReplicaRegistry.exclusively`.
    public func exclusively<T: Sendable>(_ job: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await store.exclusively(job, body)
    }

    /// Gives connections stored before fingerprints existed their fingerprint, so discovery
    /// finds them. Two that point at the same target keep none (and a warning says which),
    /// rather than one being dropped. Returns how many were given one.
    @discardableResult
    public func backfillFingerprints() async throws -> Int {
        var after: UUID?
        var filled = 0
        while true {
            let batch = try await store.connectionsWithoutFingerprint(after: after, limit: 500)
            guard let last = batch.last else { return filled }
            after = last.id
            for connection in batch {
                var updated = connection
                updated.fingerprint = await drivers.driver(for: connection.kind).fingerprint(of: connection)
                guard updated.fingerprint != nil else { continue }
                do {
                    _ = try await store.update(updated, expectedVersion: connection.version, event: nil)
                    filled += 1
                } catch StoreError.duplicateFingerprint(let fingerprint, let existing) {
                    logger.warning("two connections point at the same target; delete or retarget one", metadata: [
                        "connection": "\(connection.id.lowercasedString)", "other": "\(existing.lowercasedString)",
                        "fingerprint": "\(fingerprint)",
                    ])
                } catch StoreError.versionConflict {
                    continue  // Changed meanwhile; that change computed its fingerprint.
                }
            }
        }
    }

    /// Stops every session (at shutdown), after the queued side effects ran.
    public func shutdown() async {
        await effects.drain()
        await sessions.stopAll()
        await feed.finishAll()
    }

    /// Ids of connections whose session runs now.
    public func activeSessionIds() async -> Set<UUID> {
        await sessions.activeSessionIds
    }

    /// Every committed change from now on, in commit order per connection.
    public func changes() async -> AsyncStream<Connection> {
        await feed.subscribe()
    }

    // MARK: Reading

    public func connection(id: UUID) async throws -> Connection {
        guard let connection = try await store.connection(id: id) else { throw EngineError.notFound(id) }
        return connection
    }

    public func list(_ query: ConnectionQuery) async throws -> ConnectionListing {
        try await store.list(query)
    }

    public func events(connectionId: UUID, page: Int, pageSize: Int) async throws -> EventPage {
        _ = try await connection(id: connectionId)
        return try await store.events(connectionId: connectionId, page: page, pageSize: pageSize)
    }

    /// Health records of the given connections.
    public func health(of ids: [UUID]) async throws -> [UUID: HealthRecord] {
        try await store.health(of: ids)
    }

    /// What the connection's session collected, by key.
    public func collectedData(connectionId: UUID) async throws -> [String: CollectedItem] {
        _ = try await connection(id: connectionId)
        return try await store.collectedData(connectionId: connectionId)
    }

    /// Runs the kind's verify now and reports the result; the status does not change.
    public func ping(_ id: UUID) async throws -> (Connection, CheckResult) {
        let connection = try await connection(id: id)
        let result = await drivers.driver(for: connection.kind).verify(connection)
        return (connection, result)
    }

    /// The kind a connection follows.
    public func kind(of connection: Connection) -> ConnectionKind {
        kinds.kind(of: connection)
    }

    // MARK: Creating

    /// Creates a connection. A `registered` or `connected` start is verified first; when the
    /// check fails the connection is stored as `not found` and `verifyFailed` says so.
    /// `secret` becomes a credential the connection owns, stored with it.
    @discardableResult
    public func create(_ new: NewConnection, secret: SecretValues? = nil, by principal: Principal, reason: String? = nil,
                       correlationId: UUID = UUID()) async throws -> Connection {
        guard let kind = kinds[new.kind] else { throw EngineError.unknownKind(new.kind, known: kinds.names) }
        guard !principal.isServer || kind.registersItself else {
            throw EngineError.forbidden("a server token may register only servers (kinds \(kinds.selfRegistering.joined(separator: ", "))), not a \(kind.name) connection")
        }
        let address = new.address
        try ConnectionRules.check(name: new.name, description: new.description, url: address?.url,
                                  urlField: address?.field ?? "url")
        try ConnectionRules.check(settings: new.metadata, by: principal)
        try ConnectionRules.check(reason: reason)
        if let type = new.type, type != kind.type {
            throw EngineError.invalid(field: "type", detail: "\(kind.name) connections have type '\(kind.type)', not '\(type)'")
        }
        if let subType = new.subType, subType != kind.subType {
            throw EngineError.invalid(field: "subType", detail: "\(kind.name) connections have subType '\(kind.subType)', not '\(subType)'")
        }
        try await checkRequirements(of: kind, new, address: address?.url, secret: secret)
        let requested = new.status ?? kind.initialStatus
        let plan: CreationPlan
        switch Lifecycle.decideCreation(as: requested, kind: kind) {
        case .allowed(let allowed): plan = allowed
        case .rejected(let rejection): throw EngineError.invalid(field: "status", detail: rejection.reason)
        }
        let createdAt = now().truncatedToMilliseconds
        if let secret { try CredentialService.check(secret: secret) }
        let owned = secret.map {
            Credential(name: "\(new.name) credential", type: kind.name, owner: new.owner, secret: $0,
                       ownedByConnection: true, createdAt: createdAt, updatedAt: createdAt)
        }
        var connection = Connection(
            id: new.id ?? UUID(), name: new.name, description: new.description, url: address?.url ?? new.url,
            kind: kind.name, type: kind.type, subType: kind.subType, status: requested,
            credentialId: owned?.id ?? new.credentialId, owner: new.owner, metadata: new.metadata,
            createdAt: createdAt, updatedAt: createdAt, statusChangedBy: principal.role
        )
        connection.fingerprint = await lendingSecret(of: owned) { [drivers, connection] in
            await drivers.driver(for: kind.name).fingerprint(of: connection)
        }
        if let fingerprint = connection.fingerprint,
           let existing = try await store.liveConnection(owner: connection.owner, fingerprint: fingerprint) {
            throw EngineError.duplicate(existing: existing.id, fingerprint: fingerprint)
        }
        var failure: String?
        if plan.verify {
            let check = await lendingSecret(of: owned) { [drivers, connection] in
                await drivers.driver(for: kind.name).verify(connection)
            }
            if !check.isReachable {
                failure = check.error ?? "the target is \(check.health.rawValue)"
                connection.status = plan.onVerifyFailure
            }
        }
        let event = LifecycleEvent(
            connectionId: connection.id, from: nil, to: connection.status, actor: principal.name,
            actorRole: principal.role, reason: failure.map { "verification failed: \($0)" } ?? reason ?? "created",
            correlationId: correlationId, at: createdAt
        )
        let store = store
        let effects = effects
        let feed = feed
        let created = connection
        let verified = failure == nil
        let credentialWrite = try owned.map { try sealed.write($0, for: event, replacing: false) }
        try await locks.withLock(connection.id) {
            do {
                try await store.insert(created, event: event, credential: credentialWrite)
            } catch StoreError.duplicateFingerprint(let fingerprint, let existing) {
                throw EngineError.duplicate(existing: existing, fingerprint: fingerprint)
            }
            if verified {
                await effects.enqueue(plan.effects, for: created)
            }
            await feed.publish(created)
        }
        metrics.transitionCommitted(from: nil, to: connection.status, actor: principal.role)
        logger.info("connection created", metadata: [
            "connection": "\(connection.id.lowercasedString)", "kind": "\(kind.name)", "status": "\(connection.status.wireName)",
            "actor": "\(principal.name)",
        ])
        if let failure { throw EngineError.verifyFailed(connection, requested: requested, reason: failure) }
        return connection
    }

    /// Creates a connection as `create` does, except that a target that registers itself
    /// (a peer server) and is already registered by the same owner is refreshed instead of
    /// refused as a duplicate: its name, address and metadata are updated and its status is
    /// left as it is (a restart must not undo an admin's decision). `created` says which.
    public func register(_ new: NewConnection, secret: SecretValues? = nil, by principal: Principal, reason: String? = nil,
                         correlationId: UUID = UUID()) async throws -> (connection: Connection, created: Bool) {
        do {
            return (try await create(new, secret: secret, by: principal, reason: reason, correlationId: correlationId), true)
        } catch EngineError.duplicate(let existing, _) where kinds[new.kind]?.registersItself == true {
            let current = try await connection(id: existing)
            var metadata = current.metadata
            metadata.merge(new.metadata) { _, given in given }
            let refreshed = try await change(existing, to: nil, patch: ConnectionPatch(name: new.name, url: new.address?.url, metadata: metadata),
                                             by: principal, correlationId: correlationId)
            return (refreshed, false)
        }
    }

    /// Refuses a connection that lacks what its kind needs (a cluster without a kubeconfig),
    /// naming what is missing; the secret's key names are read, never its values.
    private func checkRequirements(of kind: ConnectionKind, _ new: NewConnection, address: String?,
                                   secret: SecretValues?) async throws {
        guard !kind.requirements.isEmpty else { return }
        var secretKeys = Set(secret.map { Array($0.keys) } ?? [])
        if let id = new.credentialId, let stored = try await sealed.credential(id: id) {
            secretKeys.formUnion(stored.secret.keys)
        }
        if let unmet = kind.unmetRequirement(url: address, secretKeys: secretKeys, metadataKeys: Set(new.metadata.keys)) {
            throw EngineError.invalid(field: unmet.field, detail: "a \(kind.name) connection needs \(unmet.what): \(unmet.hint)")
        }
    }

    /// Runs `body` while a credential not stored yet resolves for checks.
    private func lendingSecret<T: Sendable>(of credential: Credential?, _ body: () async -> T) async -> T {
        guard let credential, let credentials else { return await body() }
        return await credentials.withPending(credential.id, credential.secret, body)
    }

    // MARK: Changing

    /// Moves a connection to `status` through the lifecycle.
    @discardableResult
    public func transition(_ id: UUID, to status: ConnectionStatus, by principal: Principal,
                           reason: String? = nil, correlationId: UUID = UUID()) async throws -> Connection {
        try await change(id, to: status, patch: ConnectionPatch(), by: principal, reason: reason, correlationId: correlationId)
    }

    /// Applies field changes and, when `status` differs from the stored one, a transition,
    /// as one change with one event. A rejected or failed transition leaves the fields as
    /// they were too.
    @discardableResult
    public func change(_ id: UUID, to status: ConnectionStatus?, patch given: ConnectionPatch, by principal: Principal,
                       reason: String? = nil, correlationId: UUID = UUID()) async throws -> Connection {
        try ConnectionRules.check(reason: reason)
        let patch = given.resolvingAddress
        for _ in 1...Self.maxAttempts {
            let current = try await connection(id: id)
            do {
                return try await attempt(current, to: status, patch: patch, by: principal, reason: reason,
                                         correlationId: correlationId)
            } catch StoreError.versionConflict {
                continue  // Someone else changed it meanwhile: decide again on what is there now.
            } catch StoreError.duplicateFingerprint(let fingerprint, let existing) {
                throw EngineError.duplicate(existing: existing, fingerprint: fingerprint)
            }
        }
        throw EngineError.conflict(id)
    }

    private func attempt(_ current: Connection, to requested: ConnectionStatus?, patch: ConnectionPatch,
                         by principal: Principal, reason: String?, correlationId: UUID) async throws -> Connection {
        var updated = current
        patch.apply(to: &updated)
        let changedFields = patch.changedFields(of: current)
        // Only what changes is checked: a client that sends the whole connection back (the
        // web page, GET then PUT) can still edit a row stored before a rule existed.
        try ConnectionRules.check(name: changedFields.contains("name") ? patch.name : nil,
                                  description: changedFields.contains("description") ? patch.description : nil,
                                  url: changedFields.contains("url") ? patch.url : nil, urlField: patch.urlField)
        if let metadata = patch.metadata {
            try ConnectionRules.check(settings: metadata.filter { current.metadata[$0.key] != $0.value }, by: principal)
        }
        let at = now().truncatedToMilliseconds
        updated.updatedAt = at
        if !Set(changedFields).isDisjoint(with: ["url", "metadata", "credentialId"]) {
            updated.fingerprint = await drivers.driver(for: updated.kind).fingerprint(of: updated)
        }

        guard let requested, requested != current.status || changedFields.isEmpty else {
            // Fields only. A tombstone is history and never changes.
            if current.status == .deleted {
                throw EngineError.rejected(current, requested: .deleted, TransitionRejection(
                    reason: "the connection is deleted; deleted is terminal", allowed: []))
            }
            if changedFields.isEmpty { return current }
            let event = LifecycleEvent(
                connectionId: current.id, from: current.status, to: current.status, actor: principal.name,
                actorRole: principal.role, reason: reason ?? "updated \(changedFields.joined(separator: ", "))",
                correlationId: correlationId, at: at)
            // A running session follows the old target until restarted.
            let retarget = current.status == .connected
                && !Set(changedFields).isDisjoint(with: ["url", "metadata", "credentialId"])
            return try await commit(updated, expectedVersion: current.version, event: event,
                                    effects: retarget ? [.stopSession, .startSession] : [])
        }

        let request = TransitionRequest(from: current.status, to: requested, actor: principal.role,
                                        lastChangedBy: current.statusChangedBy)
        let plan: TransitionPlan
        switch Lifecycle.decide(request, kind: kind(of: current)) {
        case .rejected(let rejection): throw EngineError.rejected(current, requested: requested, rejection)
        case .allowed(let allowed): plan = allowed
        }

        var target = requested
        var failure: String?
        if plan.verify {
            let check = await drivers.driver(for: current.kind).verify(updated)
            if !check.isReachable {
                let message = check.error ?? "the target is \(check.health.rawValue)"
                guard let failureStatus = plan.onVerifyFailure, failureStatus != current.status else {
                    throw EngineError.verifyFailed(current, requested: requested, reason: message)
                }
                target = failureStatus
                failure = message
            }
        }

        if failure != nil {
            // The request failed: its field changes are not kept, only where the check sent it.
            updated = current
            updated.updatedAt = at
        }
        let event: LifecycleEvent
        (updated, event) = Self.moving(updated, from: current, to: target, by: principal,
                                       reason: failure.map { "verification failed: \($0)" } ?? reason,
                                       correlationId: correlationId, at: at)
        let stored = try await commit(updated, expectedVersion: current.version, event: event,
                                      effects: failure == nil ? plan.effects : plan.failureEffects)
        if target == .deleted { await recordParentDeletion(stored) }
        logMove(event)
        if let failure { throw EngineError.verifyFailed(stored, requested: requested, reason: failure) }
        return stored
    }

    /// `updated` moved from `current`'s status to `target`, and the event that says so.
    static func moving(_ updated: Connection, from current: Connection, to target: ConnectionStatus, by principal: Principal,
                       reason: String?, correlationId: UUID, at: Date) -> (Connection, LifecycleEvent) {
        var moved = updated
        moved.status = target
        moved.statusChangedBy = principal.role
        moved.deletedAt = target == .deleted ? at : nil
        let event = LifecycleEvent(
            connectionId: current.id, from: current.status, to: target, actor: principal.name,
            actorRole: principal.role, reason: reason, correlationId: correlationId, at: at)
        return (moved, event)
    }

    func logMove(_ event: LifecycleEvent) {
        logger.info("connection status changed", metadata: [
            "connection": "\(event.connectionId.lowercasedString)", "from": "\(event.from?.wireName ?? "none")",
            "to": "\(event.to.wireName)", "actor": "\(event.actor)", "correlation": "\(event.correlationId.lowercasedString)",
        ])
    }

    /// Commits several moves in one transaction (see `ConnectionStore.updateMany`), holding
    /// their locks, and queues the effects of those stored. Answers those stored; a move
    /// that lost a race is left out, with nothing written.
    func commitMany(_ moves: [(move: StoredMove, effects: [SideEffect])]) async throws -> [UUID: Connection] {
        let store = store
        let effects = effects
        let feed = feed
        let stored = try await locks.withLocks(moves.map(\.move.connection.id)) {
            let stored = try await store.updateMany(moves.map(\.move))
            for (move, effectList) in moves {
                guard let connection = stored[move.connection.id] else { continue }
                await effects.enqueue(effectList, for: connection)
                await feed.publish(connection)
            }
            return stored
        }
        for (move, _) in moves where stored[move.connection.id] != nil {
            metrics.transitionCommitted(from: move.event.from, to: move.event.to, actor: move.event.actorRole)
            logMove(move.event)
        }
        return stored
    }

    func commit(_ connection: Connection, expectedVersion: Int64, event: LifecycleEvent,
                effects effectList: [SideEffect], credential: CredentialWrite? = nil) async throws -> Connection {
        let store = store
        let effects = effects
        let feed = feed
        let stored = try await locks.withLock(connection.id) {
            let stored = try await store.update(connection, expectedVersion: expectedVersion, event: event,
                                                credential: credential)
            await effects.enqueue(effectList, for: stored)
            await feed.publish(stored)
            return stored
        }
        if event.from != event.to { metrics.transitionCommitted(from: event.from, to: event.to, actor: event.actorRole) }
        return stored
    }

    /// Waits for every queued side effect to finish.
    public func drainSideEffects() async {
        await effects.drain()
    }
}
