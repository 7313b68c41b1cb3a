import ConnectionLifecycle

/// The transition table of DESIGN section 1, transcribed by hand for tests, independent of
/// `TransitionTable.standard`: tests compare what the code does with what the design says.
public enum DesignTable {
    public struct Rule: Sendable, Hashable {
        public let from: ConnectionStatus
        public let to: ConnectionStatus
        public let user: Bool
        public let system: Bool
        public let verifies: Bool
        /// Where a user's request goes when the check fails; `nil`: it stays where it was.
        public let userFailure: ConnectionStatus?
        /// The system may take the edge only after a system-made change (system-caused disconnects).
        public let systemOnlyAfterSystemChange: Bool
    }

    private static func rule(_ from: ConnectionStatus, _ to: ConnectionStatus, user: Bool = true, system: Bool = false,
                             verifies: Bool = false, userFailure: ConnectionStatus? = nil,
                             systemOnlyAfterSystemChange: Bool = false) -> Rule {
        Rule(from: from, to: to, user: user, system: system, verifies: verifies, userFailure: userFailure,
             systemOnlyAfterSystemChange: systemOnlyAfterSystemChange)
    }

    /// The rules for `kind`: the default table, plus `meshery`'s auto-connect.
    public static func rules(kind: String) -> [Rule] {
        [
            rule(.discovered, .registered, system: true, verifies: true, userFailure: .notFound),
            rule(.discovered, .ignored),
            rule(.discovered, .deleted),
            rule(.registered, .connected, system: kind == "meshery", verifies: true, userFailure: .notFound),
            rule(.registered, .maintenance),
            rule(.registered, .ignored),
            rule(.registered, .deleted),
            rule(.registered, .notFound, user: false, system: true),
            rule(.connected, .disconnected, system: true),
            rule(.connected, .maintenance),
            rule(.connected, .ignored),
            rule(.connected, .deleted),
            rule(.disconnected, .connected, system: true, verifies: true, systemOnlyAfterSystemChange: true),
            rule(.disconnected, .maintenance),
            rule(.disconnected, .ignored),
            rule(.disconnected, .deleted),
            rule(.maintenance, .connected, verifies: true, userFailure: .disconnected),
            rule(.maintenance, .registered, verifies: true, userFailure: .notFound),
            rule(.maintenance, .ignored),
            rule(.maintenance, .deleted),
            rule(.ignored, .registered, verifies: true, userFailure: .notFound),
            rule(.ignored, .deleted),
            rule(.notFound, .registered, verifies: true),
            rule(.notFound, .discovered, user: false, system: true),
            rule(.notFound, .deleted),
        ]
    }

    public static func rule(kind: String, from: ConnectionStatus, to: ConnectionStatus) -> Rule? {
        rules(kind: kind).first { $0.from == from && $0.to == to }
    }

    /// Whether `actor` may move a connection of `kind` from `from` to `to`, given who made
    /// the change that put it in `from`.
    public static func permits(kind: String, from: ConnectionStatus, to: ConnectionStatus, actor: ActorRole,
                               lastChangedBy: ActorRole) -> Bool {
        guard let rule = rule(kind: kind, from: from, to: to) else { return false }
        switch actor {
        case .user: return rule.user
        case .system: return rule.system && (!rule.systemOnlyAfterSystemChange || lastChangedBy == .system)
        }
    }

    /// Whether an event `from → to` by `actor` may appear in a log: an edge the actor may
    /// take, or the failure destination of a user's verified request.
    public static func isLegalEvent(kind: String, from: ConnectionStatus, to: ConnectionStatus, actor: ActorRole) -> Bool {
        if let rule = rule(kind: kind, from: from, to: to),
           actor == .user ? rule.user : rule.system { return true }
        guard actor == .user else { return false }
        return rules(kind: kind).contains { $0.from == from && $0.user && $0.verifies && $0.userFailure == to }
    }
}
