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
    /// What a connection of this kind cannot work without; a create that lacks one is
    /// refused then, instead of the connection failing every check later.
    public var requirements: [KindRequirement]
    /// A target that registers itself and reports its own liveness (a peer server): it is
    /// not probed, heartbeats keep a lease instead, its registration is its verification,
    /// registering again refreshes the connection it has instead of being a duplicate, and
    /// `server` tokens may register only such kinds.
    public var registersItself: Bool

    public init(name: String, type: String, subType: String,
                initialStatus: ConnectionStatus = .discovered, table: TransitionTable = .standard,
                autoRegisters: Bool = true, requirements: [KindRequirement] = [], registersItself: Bool = false) {
        self.name = name
        self.type = type
        self.subType = subType
        self.initialStatus = initialStatus
        self.table = table
        self.autoRegisters = autoRegisters
        self.requirements = requirements
        self.registersItself = registersItself
    }

    /// The first requirement none of whose sources the connection has.
    public func unmetRequirement(url: String?, secretKeys: Set<String>, metadataKeys: Set<String>) -> KindRequirement? {
        requirements.first { requirement in
            !requirement.sources.contains { source in
                switch source {
                case .url: url.map { !$0.isEmpty } ?? false
                case .secretKey(let key): secretKeys.contains(key)
                case .metadataKey(let key): metadataKeys.contains(key)
                }
            }
        }
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

    /// The kinds whose targets register themselves (peer servers).
    public var selfRegistering: [String] { kinds.values.filter(\.registersItself).map(\.name).sorted() }

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
        ConnectionKind(name: "kubernetes", type: "platform", subType: "orchestration",
                       requirements: [.kubeconfig]),
        ConnectionKind(name: "prometheus", type: "telemetry", subType: "metrics"),
        ConnectionKind(name: "grafana", type: "telemetry", subType: "metrics"),
        ConnectionKind(name: "helm", type: "platform", subType: "registry"),
        // A peer server (spoke) registered with this one (hub): heartbeats move it, so the
        // system may connect it; its check is whether its lease is alive.
        ConnectionKind(
            name: "meshery", type: "platform", subType: "management", initialStatus: .registered,
            table: TransitionTable.standard.replacing(
                TransitionEdge(.registered, .connected, by: [.user, .system], verifies: true, onVerifyFailure: .notFound,
                               description: "Connect once its heartbeats arrive")
            ),
            autoRegisters: false, registersItself: true
        ),
        ConnectionKind(name: "http", type: "platform", subType: "http"),
    ])
}

/// One thing a kind needs, met by any of several sources (data, so a kind declares it
/// instead of routes testing kinds).
public struct KindRequirement: Sendable, Hashable {
    public enum Source: Sendable, Hashable {
        case url
        case secretKey(String)
        case metadataKey(String)
    }

    /// What is needed, for the refusal: "a kubeconfig (the API server and how to sign in)".
    public var what: String
    public var sources: [Source]
    /// The request field to fix.
    public var field: String
    /// How to supply it.
    public var hint: String

    public init(what: String, sources: [Source], field: String, hint: String) {
        self.what = what
        self.sources = sources
        self.field = field
        self.hint = hint
    }

    /// A cluster's API server address, CA and user all come from a kubeconfig.
    public static let kubeconfig = KindRequirement(
        what: "a kubeconfig (its API server address and how to sign in)",
        sources: [.secretKey("kubeconfig"), .metadataKey("kubeconfigPath")],
        field: "credentialSecret",
        hint: "send credentialSecret {\"kubeconfig\": \"<YAML>\", \"context\": \"<name>\"}, or a credentialId whose secret holds kubeconfig, or (admins) metadata kubeconfigPath naming a file on the server")
}
