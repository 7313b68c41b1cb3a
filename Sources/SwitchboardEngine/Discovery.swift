import ConnectionLifecycle
import Foundation
import SwitchboardDrivers
import StoreContract

/// Something discovery found: the connection it would create, the secret it brings (stored
/// as a credential the connection owns), and where it was found.
public struct Discovery: Sendable, Hashable, CustomStringConvertible {
    public var connection: NewConnection
    /// Secret values to keep as the connection's credential (a kubeconfig's cluster and user).
    public var secret: SecretValues?
    /// The identity when the finder knows it better than the driver would (a kubeconfig
    /// context); otherwise the kind's driver computes it.
    public var fingerprint: String?
    /// Says where it was found, in events: `kubeconfig import`, `cluster scan`…
    public var source: String
    /// Who made discovery look: the user who imported, or the system for its own finds.
    public var principal: Principal
    /// The connection whose session found it.
    public var parentId: UUID?

    public init(connection: NewConnection, secret: SecretValues? = nil, fingerprint: String? = nil, source: String,
                by principal: Principal = .system) {
        self.connection = connection
        self.secret = secret
        self.fingerprint = fingerprint
        self.source = source
        self.principal = principal
    }

    /// Without the secret's values.
    public var description: String {
        "Discovery(\(connection.kind) \(connection.url ?? "-") by \(source), fingerprint: \(fingerprint ?? "-"))"
    }
}

/// What discovery did with what it found.
public struct DiscoveryResult: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable {
        /// A new connection, `discovered` (or further, when it was registered at once).
        case created
        /// Known already and nothing changed.
        case known = "already known"
        /// Known already; its credential or discovery metadata changed (the status did not).
        case updated
        /// It was `not found` and is back: now `discovered` again.
        case rediscovered
        /// An admin ignored it: left exactly as it is.
        case ignored
    }

    public var outcome: Outcome
    public var connection: Connection
    /// Whether auto-registration found it reachable (`nil` when not attempted).
    public var reachable: Bool?
    /// Why auto-registration did not register it.
    public var problem: String?
}

extension ConnectionEngine {
    /// Creates a connection for an unknown fingerprint, or reconciles the known one: its
    /// discovery metadata and credential are brought up to date without touching the status,
    /// except `not found → discovered`; an ignored one is left alone. Then a `discovered`
    /// connection is auto-registered (system) when its kind says so and it is reachable;
    /// `register` overrides the kind's policy.
    public func discover(_ found: Discovery, register: Bool? = nil, correlationId: UUID = UUID()) async throws -> DiscoveryResult {
        guard let kind = kinds[found.connection.kind] else {
            throw EngineError.unknownKind(found.connection.kind, known: kinds.names)
        }
        let new = found.connection
        try ConnectionRules.check(name: new.name, description: new.description, url: new.url)
        let at = now().truncatedToMilliseconds
        var candidate = Connection(
            id: UUID(), name: new.name, description: new.description, url: new.url, kind: kind.name, type: kind.type,
            subType: kind.subType, status: .discovered, credentialId: new.credentialId, owner: new.owner,
            metadata: new.metadata, createdAt: at, updatedAt: at, statusChangedBy: .system, parentId: found.parentId)
        if found.secret != nil, found.fingerprint == nil {
            throw EngineError.invalid(field: "fingerprint", detail: "a discovery that brings a secret must say what it points at")
        }
        if let fingerprint = found.fingerprint {
            candidate.fingerprint = fingerprint
        } else {
            candidate.fingerprint = await drivers.driver(for: kind.name).fingerprint(of: candidate)
        }

        var result: DiscoveryResult?
        for _ in 1...Self.maxAttempts {
            do {
                if let fingerprint = candidate.fingerprint,
                   let existing = try await store.liveConnection(owner: candidate.owner, fingerprint: fingerprint) {
                    result = try await reconcile(existing, with: found, at: at, correlationId: correlationId)
                } else {
                    result = try await insertDiscovered(candidate, found, at: at, correlationId: correlationId)
                }
                break
            } catch StoreError.duplicateFingerprint, StoreError.versionConflict {
                continue  // Another discovery got there first: reconcile with what it stored.
            }
        }
        guard var result else { throw EngineError.conflict(candidate.id) }

        let registers = register ?? kind.autoRegisters
        if registers, result.connection.status == .discovered, result.outcome != .ignored {
            do {
                result.connection = try await transition(
                    result.connection.id, to: .registered, by: .system,
                    reason: "auto-registered: reachable when \(found.source) found it", correlationId: correlationId)
                result.reachable = true
            } catch EngineError.verifyFailed(let connection, _, let reason) {
                result.connection = connection
                result.reachable = false
                result.problem = reason
                // A new find says in its history why it is still `discovered`; a known one
                // says it once already.
                if result.outcome == .created || result.outcome == .rediscovered {
                    result.connection = (try? await note(connection, reason: "not auto-registered: \(reason)",
                                                         correlationId: correlationId)) ?? connection
                }
            } catch EngineError.rejected(let connection, _, _) {
                result.connection = connection  // Someone moved it meanwhile; theirs stands.
            }
        }
        return result
    }

    private func insertDiscovered(_ candidate: Connection, _ found: Discovery, at: Date,
                                  correlationId: UUID) async throws -> DiscoveryResult {
        // A find enters as `discovered`, as the lifecycle says a creation may (no check, no effects).
        guard case .allowed = Lifecycle.decideCreation(as: .discovered, kind: kind(of: candidate)) else {
            throw EngineError.invalid(field: "status", detail: "a \(candidate.kind) connection cannot start as discovered")
        }
        var connection = candidate
        var credential: Credential?
        if let secret = found.secret {
            credential = Credential(name: "\(found.connection.name) (\(found.source))", type: found.connection.kind,
                                    owner: found.connection.owner, secret: secret, ownedByConnection: true,
                                    createdAt: at, updatedAt: at)
            connection.credentialId = credential?.id
        }
        let event = LifecycleEvent(
            connectionId: connection.id, from: nil, to: .discovered, actor: found.principal.name,
            actorRole: found.principal.role, reason: "discovered by \(found.source)", correlationId: correlationId, at: at)
        let store = store
        let feed = feed
        let created = connection
        let owned = try credential.map { try sealed.write($0, for: event, replacing: false) }
        try await locks.withLock(connection.id) {
            try await store.insert(created, event: event, credential: owned)
            await feed.publish(created)
        }
        metrics.transitionCommitted(from: nil, to: .discovered, actor: found.principal.role)
        logger.info("connection discovered", metadata: [
            "connection": "\(connection.id.lowercasedString)", "kind": "\(connection.kind)", "source": "\(found.source)",
        ])
        return DiscoveryResult(outcome: .created, connection: connection)
    }

    /// Brings a known connection's discovery metadata and credential up to date.
    private func reconcile(_ existing: Connection, with found: Discovery, at: Date,
                           correlationId: UUID) async throws -> DiscoveryResult {
        guard existing.status != .ignored else { return DiscoveryResult(outcome: .ignored, connection: existing) }
        var updated = existing
        var changes: [String] = []
        // Discovery adds what it knows and never overwrites: an admin's edits stand, and two
        // sources that name one target differently do not take turns rewriting it.
        for (key, value) in found.connection.metadata where existing.metadata[key] == nil {
            updated.metadata[key] = value
        }
        if updated.metadata != existing.metadata { changes.append("metadata") }

        var credential: Credential?
        if let secret = found.secret {
            if let id = existing.credentialId, let stored = try await sealed.credential(id: id) {
                // A credential the operator placed (it may run exec plugins) is not replaced
                // by one uploaded through the API.
                let keepsOperators = stored.secret[SecretKey.execAllowed] == "true" && secret[SecretKey.execAllowed] != "true"
                if stored.secret != secret, !keepsOperators {
                    credential = stored
                    credential?.secret = secret
                    credential?.updatedAt = at
                }
            } else {
                credential = Credential(name: "\(found.connection.name) (\(found.source))", type: found.connection.kind,
                                        owner: found.connection.owner, secret: secret, ownedByConnection: true,
                                    createdAt: at, updatedAt: at)
                updated.credentialId = credential?.id
            }
            if credential != nil { changes.append("credential") }
        } else if let shared = found.connection.credentialId, shared != existing.credentialId {
            updated.credentialId = shared
            changes.append("credential")
        }

        // Being seen again moves a connection only where the lifecycle gives the system an
        // edge to `discovered` (the standard table: from `not found`).
        var back: TransitionPlan?
        if case .allowed(let plan) = Lifecycle.decide(TransitionRequest(from: existing.status, to: .discovered, actor: .system,
                                                                        lastChangedBy: existing.statusChangedBy),
                                                      kind: kind(of: existing)) {
            back = plan
        }
        let comesBack = back != nil
        guard comesBack || !changes.isEmpty else { return DiscoveryResult(outcome: .known, connection: existing) }
        updated.updatedAt = at
        var effects: [SideEffect] = []
        if let back {
            updated.status = .discovered
            updated.statusChangedBy = .system
            effects = back.effects
        } else if existing.status == .connected {
            effects = [.stopSession, .startSession]  // The session follows the new credential.
        }
        let what = changes.isEmpty ? "" : ": \(changes.joined(separator: " and ")) updated"
        // `not found → discovered` is the system's edge; a credential update is whoever imported.
        let actor = comesBack ? Principal.system : found.principal
        let event = LifecycleEvent(
            connectionId: existing.id, from: existing.status, to: updated.status, actor: actor.name,
            actorRole: actor.role,
            reason: comesBack ? "discovered again by \(found.source)\(what)" : "\(found.source)\(what)",
            correlationId: correlationId, at: at)
        let stored = try await commit(updated, expectedVersion: existing.version, event: event, effects: effects,
                                      credential: try credential.map {
                                          try sealed.write($0, for: event, replacing: $0.id == existing.credentialId)
                                      })
        return DiscoveryResult(outcome: comesBack ? .rediscovered : .updated, connection: stored)
    }

    /// Records an event on a connection whose status and fields stay as they are.
    private func note(_ connection: Connection, reason: String, correlationId: UUID) async throws -> Connection {
        var updated = connection
        updated.updatedAt = now().truncatedToMilliseconds
        let event = LifecycleEvent(
            connectionId: connection.id, from: connection.status, to: connection.status, actor: Principal.system.name,
            actorRole: .system, reason: reason, correlationId: correlationId, at: updated.updatedAt)
        return try await commit(updated, expectedVersion: connection.version, event: event, effects: [])
    }

    /// A session found targets (a cluster's Prometheus and Grafana): each becomes a
    /// `discovered` child reached with the parent's credentials, unless already known.
    /// Returns whether every target was recorded (else the session reports them again).
    func discoverChildren(_ targets: [DiscoveredTarget], of reported: Connection) async -> Bool {
        // The parent as it is now: a deleted or disconnected cluster's last scan creates nothing.
        guard let parent = try? await store.connection(id: reported.id), parent.status == .connected else { return true }
        var recorded = true
        for target in targets {
            var metadata = target.metadata
            // A parent that names its kubeconfig by file lends that reference.
            for key in [FileReferenceCredentials.Key.kubeconfigPath, FileReferenceCredentials.Key.context] {
                if let value = parent.metadata[key] { metadata[key] = value }
            }
            var found = Discovery(
                connection: NewConnection(name: String(target.name.prefix(ConnectionRules.maxName)), url: target.url,
                                          kind: target.kind, credentialId: parent.credentialId, owner: parent.owner,
                                          metadata: metadata),
                source: "cluster scan of \(parent.name)")
            found.parentId = parent.id
            do {
                _ = try await discover(found)
            } catch {
                recorded = false
                logger.warning("cluster scan could not record a target", metadata: [
                    "parent": "\(parent.id.lowercasedString)", "target": "\(target.url)", "error": "\(error)",
                ])
            }
        }
        return recorded
    }

    /// Marks the children a deletion left unmarked (the marks follow the deletion's commit,
    /// so a crash in between loses them); run at start-up. Returns how many parents' children
    /// were marked.
    @discardableResult
    public func finishParentDeletions() async throws -> Int {
        var marked = 0
        for id in try await store.deletedParentsWithLiveChildren() {
            guard let parent = try await store.connection(id: id),
                  let children = try? await store.children(of: id),
                  children.contains(where: { !Self.carriesParentDeletion($0) }) else { continue }
            await recordParentDeletion(parent)
            marked += 1
        }
        return marked
    }

    private static func carriesParentDeletion(_ child: Connection) -> Bool {
        child.metadata["parentDeleted"] == .bool(true)
    }

    /// Children of a deleted connection stay, with the parent's deletion in their metadata.
    func recordParentDeletion(_ parent: Connection) async {
        guard let children = try? await store.children(of: parent.id) else { return }
        let marks: [String: JSONValue] = [
            "parentDeleted": .bool(true),
            "parentDeletedAt": .string(ISO8601DateFormatter().string(from: parent.updatedAt)),
        ]
        for child in children {
            do {
                // Only these two keys, merged into the row as it is at commit time.
                for _ in 1...Self.maxAttempts {
                    guard let current = try await store.connection(id: child.id), current.status != .deleted else { break }
                    var updated = current
                    updated.metadata.merge(marks) { $1 }
                    updated.updatedAt = now().truncatedToMilliseconds
                    let event = LifecycleEvent(
                        connectionId: current.id, from: current.status, to: current.status, actor: Principal.system.name,
                        actorRole: .system,
                        reason: "parent connection \(parent.id.lowercasedString) (\(parent.name)) was deleted",
                        correlationId: UUID(), at: updated.updatedAt)
                    do {
                        _ = try await commit(updated, expectedVersion: current.version, event: event, effects: [])
                        break
                    } catch StoreError.versionConflict {
                        continue
                    }
                }
            } catch {
                logger.warning("could not record a parent's deletion", metadata: [
                    "connection": "\(child.id.lowercasedString)", "error": "\(error)",
                ])
            }
        }
    }
}
