/// Who asks for a status change: a person through the API, or Switchboard itself
/// (health monitor, discovery).
public enum ActorRole: String, Codable, CaseIterable, Sendable, Hashable {
    case user
    case system
}

/// An extra condition an edge puts on the system actor.
public enum SystemCondition: String, Codable, Sendable, Hashable {
    /// The system may take the edge only when the system itself made the previous
    /// status change (a system-caused disconnect may heal on its own; an admin's may not).
    case lastChangeBySystem
}

/// One permitted move of the lifecycle, as data.
public struct TransitionEdge: Sendable, Hashable, Codable {
    public var from: ConnectionStatus
    public var to: ConnectionStatus
    /// Who may take the edge.
    public var actors: Set<ActorRole>
    /// Whether the kind's reachability check runs before the change commits.
    public var verifies: Bool
    /// Where a user's request goes when the check fails; `nil` means it stays where it is.
    /// A failed check never moves a connection for the system actor: the damped health
    /// rules decide that, not a single probe.
    public var onVerifyFailure: ConnectionStatus?
    public var systemCondition: SystemCondition?
    /// What the move means, shown to users in `transitionMap`.
    public var description: String

    public init(
        _ from: ConnectionStatus, _ to: ConnectionStatus, by actors: Set<ActorRole>,
        verifies: Bool = false, onVerifyFailure: ConnectionStatus? = nil,
        systemCondition: SystemCondition? = nil, description: String
    ) {
        self.from = from
        self.to = to
        self.actors = actors
        self.verifies = verifies
        self.onVerifyFailure = onVerifyFailure
        self.systemCondition = systemCondition
        self.description = description
    }
}

/// A kind's lifecycle: the set of edges it permits. Kinds narrow or extend the default
/// table with `removing`/`replacing` rather than with branches in code.
public struct TransitionTable: Sendable, Hashable {
    public private(set) var edges: [TransitionEdge]

    public init(_ edges: [TransitionEdge]) {
        self.edges = edges
    }

    public func edge(from: ConnectionStatus, to: ConnectionStatus) -> TransitionEdge? {
        edges.first { $0.from == from && $0.to == to }
    }

    public func edges(from: ConnectionStatus) -> [TransitionEdge] {
        edges.filter { $0.from == from }
    }

    /// Statuses `actor` may request from `status`, in lifecycle order.
    public func targets(from status: ConnectionStatus, for actor: ActorRole) -> [ConnectionStatus] {
        edges(from: status).filter { $0.actors.contains(actor) }.map(\.to).sorted()
    }

    /// A copy with the edge `from → to` removed.
    public func removing(_ from: ConnectionStatus, _ to: ConnectionStatus) -> TransitionTable {
        TransitionTable(edges.filter { !($0.from == from && $0.to == to) })
    }

    /// A copy in which `edge` replaces any edge with the same endpoints.
    public func replacing(_ edge: TransitionEdge) -> TransitionTable {
        var copy = removing(edge.from, edge.to)
        copy.edges.append(edge)
        return copy
    }

    /// The default table of DESIGN section 1.
    public static let standard = TransitionTable([
        TransitionEdge(.discovered, .registered, by: [.user, .system], verifies: true, onVerifyFailure: .notFound,
                       description: "Verify the target is reachable and register it"),
        TransitionEdge(.discovered, .ignored, by: [.user], description: "Hide it; discovery will never bring it back"),
        TransitionEdge(.discovered, .deleted, by: [.user], description: "Delete it"),

        TransitionEdge(.registered, .connected, by: [.user], verifies: true, onVerifyFailure: .notFound,
                       description: "Verify and start managing it"),
        TransitionEdge(.registered, .maintenance, by: [.user], description: "Take it offline for maintenance"),
        TransitionEdge(.registered, .ignored, by: [.user], description: "Hide it; discovery will never bring it back"),
        TransitionEdge(.registered, .deleted, by: [.user], description: "Delete it"),
        TransitionEdge(.registered, .notFound, by: [.system], description: "Periodic checks keep failing"),

        TransitionEdge(.connected, .disconnected, by: [.user, .system],
                       description: "Stop managing it; it stays registered as disconnected"),
        TransitionEdge(.connected, .maintenance, by: [.user], description: "Stop the session and take it offline for maintenance"),
        TransitionEdge(.connected, .ignored, by: [.user], description: "Stop the session and hide it; collected data is kept"),
        TransitionEdge(.connected, .deleted, by: [.user], description: "Stop the session, purge collected data and delete it"),

        TransitionEdge(.disconnected, .connected, by: [.user, .system], verifies: true,
                       systemCondition: .lastChangeBySystem, description: "Verify and reconnect"),
        TransitionEdge(.disconnected, .maintenance, by: [.user], description: "Take it offline for maintenance"),
        TransitionEdge(.disconnected, .ignored, by: [.user], description: "Hide it; collected data is kept"),
        TransitionEdge(.disconnected, .deleted, by: [.user], description: "Purge collected data and delete it"),

        TransitionEdge(.maintenance, .connected, by: [.user], verifies: true, onVerifyFailure: .disconnected,
                       description: "End maintenance: verify and reconnect"),
        TransitionEdge(.maintenance, .registered, by: [.user], verifies: true, onVerifyFailure: .notFound,
                       description: "End maintenance: verify and register"),
        TransitionEdge(.maintenance, .ignored, by: [.user], description: "Hide it; collected data is kept"),
        TransitionEdge(.maintenance, .deleted, by: [.user], description: "Purge collected data and delete it"),

        TransitionEdge(.ignored, .registered, by: [.user], verifies: true, onVerifyFailure: .notFound,
                       description: "Bring it back: verify and register"),
        TransitionEdge(.ignored, .deleted, by: [.user], description: "Purge collected data and delete it"),

        TransitionEdge(.notFound, .registered, by: [.user], verifies: true,
                       description: "Re-register: verify again"),
        TransitionEdge(.notFound, .discovered, by: [.system], description: "Discovery sees it again"),
        TransitionEdge(.notFound, .deleted, by: [.user], description: "Delete it"),
    ])
}
