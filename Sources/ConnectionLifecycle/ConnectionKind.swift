/// A connection definition: what a kind is and how its lifecycle behaves.
public struct ConnectionKind: Sendable, Hashable {
    public var name: String
    public var type: String
    public var subType: String
    /// The status a connection of this kind starts in when the payload names none.
    public var initialStatus: ConnectionStatus
    public var table: TransitionTable
    /// Whether discovery moves a reachable `discovered` connection of this kind on to
    /// `registered` by itself (actor `system`).
    public var autoRegisters: Bool

    public init(name: String, type: String, subType: String,
                initialStatus: ConnectionStatus = .discovered, table: TransitionTable = .standard,
                autoRegisters: Bool = true) {
        self.name = name
        self.type = type
        self.subType = subType
        self.initialStatus = initialStatus
        self.table = table
        self.autoRegisters = autoRegisters
    }

    /// Meshery's `transitionMap`: for every status, the moves a user may request from it.
    public var userTransitionMap: [ConnectionStatus: [TransitionEdge]] {
        var map: [ConnectionStatus: [TransitionEdge]] = [:]
        for edge in table.edges where edge.actors.contains(.user) {
            map[edge.from, default: []].append(edge)
        }
        return map.mapValues { $0.sorted { $0.to < $1.to } }
    }
}

/// The kinds a server knows, looked up by name.
public struct KindCatalog: Sendable {
    public let kinds: [String: ConnectionKind]

    public init(_ kinds: [ConnectionKind]) {
        self.kinds = Dictionary(kinds.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    public subscript(name: String) -> ConnectionKind? { kinds[name] }

    public var names: [String] { kinds.keys.sorted() }

    /// The same kinds with auto-registration on for `names` only (`--auto-register-kinds`,
    /// `--no-auto-register`).
    public func withAutoRegistration(only names: Set<String>) -> KindCatalog {
        KindCatalog(kinds.values.map { kind in
            var kind = kind
            kind.autoRegisters = names.contains(kind.name)
            return kind
        })
    }

    /// The kind a connection follows. A stored kind this catalog no longer defines keeps the
    /// default table, so such connections can still be moved and deleted.
    public func kind(of connection: Connection) -> ConnectionKind {
        kinds[connection.kind]
            ?? ConnectionKind(name: connection.kind, type: connection.type, subType: connection.subType)
    }

    /// Built-in kinds of DESIGN section 3 plus a generic `http` kind.
    public static let builtIn = KindCatalog([
        ConnectionKind(name: "kubernetes", type: "platform", subType: "orchestration"),
        ConnectionKind(name: "prometheus", type: "telemetry", subType: "metrics"),
        ConnectionKind(name: "grafana", type: "telemetry", subType: "metrics"),
        ConnectionKind(name: "helm", type: "platform", subType: "registry"),
        // A peer registration moves itself through heartbeats, so the system may connect it.
        ConnectionKind(
            name: "meshery", type: "platform", subType: "management",
            table: TransitionTable.standard.replacing(
                TransitionEdge(.registered, .connected, by: [.user, .system], verifies: true, onVerifyFailure: .notFound,
                               description: "Verify and start the heartbeat")
            )
        ),
        ConnectionKind(name: "http", type: "platform", subType: "http"),
    ])
}
