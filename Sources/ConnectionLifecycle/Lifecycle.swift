/// A side effect a committed transition asks for. The engine runs them after the commit,
/// in commit order per connection.
public enum SideEffect: String, Sendable, Hashable, Codable {
    case startSession
    case stopSession
    case purgeData
    case dropOwnedCredential
}

/// A request to move a connection, with what the lifecycle needs to know about it.
public struct TransitionRequest: Sendable, Hashable {
    public var from: ConnectionStatus
    public var to: ConnectionStatus
    public var actor: ActorRole
    /// Who made the change that put the connection in `from`.
    public var lastChangedBy: ActorRole

    public init(from: ConnectionStatus, to: ConnectionStatus, actor: ActorRole, lastChangedBy: ActorRole = .user) {
        self.from = from
        self.to = to
        self.actor = actor
        self.lastChangedBy = lastChangedBy
    }
}

/// What to do for an allowed transition.
public struct TransitionPlan: Sendable, Hashable {
    public var edge: TransitionEdge
    /// Run the kind's check before committing.
    public var verify: Bool { edge.verifies }
    /// Where the connection goes if the check fails (`nil`: it stays).
    public var onVerifyFailure: ConnectionStatus?
    /// Effects after a successful commit.
    public var effects: [SideEffect]
    /// Effects after committing the failure status instead.
    public var failureEffects: [SideEffect]
}

public struct TransitionRejection: Error, Sendable, Hashable {
    public var reason: String
    /// What the actor may request from the current status instead.
    public var allowed: [ConnectionStatus]

    public init(reason: String, allowed: [ConnectionStatus]) {
        self.reason = reason
        self.allowed = allowed
    }
}

public enum TransitionDecision: Sendable, Hashable {
    case allowed(TransitionPlan)
    case rejected(TransitionRejection)
}

/// What to do to create a connection in a status.
public struct CreationPlan: Sendable, Hashable {
    /// Run the kind's check before storing it.
    public var verify: Bool
    /// The status it is stored in when the check fails.
    public var onVerifyFailure: ConnectionStatus
    /// Effects after it is stored as asked (none after a failed check).
    public var effects: [SideEffect]
}

public enum CreationDecision: Sendable, Hashable {
    case allowed(CreationPlan)
    case rejected(TransitionRejection)
}

/// The lifecycle's decide function: pure, no I/O. Everything that changes a status asks it.
public enum Lifecycle {
    public static func decide(_ request: TransitionRequest, kind: ConnectionKind) -> TransitionDecision {
        let allowed = kind.table.targets(from: request.from, for: request.actor)
        func reject(_ reason: String) -> TransitionDecision {
            .rejected(TransitionRejection(reason: reason, allowed: allowed))
        }
        if request.from == .deleted {
            return reject("the connection is deleted; deleted is terminal")
        }
        if request.from == request.to {
            return reject("the connection is already \(request.to.wireName)")
        }
        guard let edge = kind.table.edge(from: request.from, to: request.to) else {
            return reject("\(kind.name) connections cannot move from \(request.from.wireName) to \(request.to.wireName)")
        }
        guard edge.actors.contains(request.actor) else {
            return reject("only \(edge.actors.map(\.rawValue).sorted().joined(separator: " or ")) may move a connection from \(request.from.wireName) to \(request.to.wireName)")
        }
        if request.actor == .system, edge.systemCondition == .lastChangeBySystem, request.lastChangedBy != .system {
            return reject("the connection was moved to \(request.from.wireName) by a user; only a user may move it back")
        }
        let failure = request.actor == .user ? edge.onVerifyFailure : nil
        return .allowed(TransitionPlan(
            edge: edge,
            onVerifyFailure: failure,
            effects: effects(from: request.from, to: request.to),
            failureEffects: failure.map { effects(from: request.from, to: $0) } ?? []
        ))
    }

    /// How a new connection may start in `status`: `discovered`, `registered` or `connected`
    /// (anything else is refused); the two last are checked first, and a failed check stores
    /// it as `not found`, except for a kind whose targets register themselves (reaching this
    /// server is their check).
    public static func decideCreation(as status: ConnectionStatus, kind: ConnectionKind) -> CreationDecision {
        // A server that registers itself is connected by its heartbeats, never at create
        // (nothing would ever let its lease lapse).
        let creatable = kind.registersItself ? ConnectionStatus.creatable.filter { $0 != .connected } : ConnectionStatus.creatable
        guard creatable.contains(status) else {
            return .rejected(TransitionRejection(
                reason: "a new \(kind.name) connection starts as \(creatable.map(\.wireName).joined(separator: " or ")), not \(status.wireName)",
                allowed: creatable))
        }
        return .allowed(CreationPlan(verify: status != .discovered && !kind.registersItself, onVerifyFailure: .notFound,
                                     effects: effects(from: .discovered, to: status)))
    }

    /// Effects of entering `to` from `from`: a session runs exactly while connected; deletion
    /// purges what the session collected and the credential the connection owns.
    public static func effects(from: ConnectionStatus, to: ConnectionStatus) -> [SideEffect] {
        var effects: [SideEffect] = []
        if from == .connected && to != .connected { effects.append(.stopSession) }
        if to == .connected && from != .connected { effects.append(.startSession) }
        if to == .deleted { effects += [.purgeData, .dropOwnedCredential] }
        return effects
    }
}
