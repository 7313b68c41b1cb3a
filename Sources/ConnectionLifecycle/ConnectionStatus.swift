/// The eight lifecycle statuses, spelled exactly as on the wire (`not found` has a space).
public enum ConnectionStatus: String, Codable, CaseIterable, Sendable, Hashable, Comparable {
    case discovered
    case registered
    case connected
    case ignored
    case maintenance
    case disconnected
    case deleted
    case notFound = "not found"

    /// The wire spelling, e.g. `not found`.
    public var wireName: String { rawValue }

    /// Statuses a new connection may be created in: `discovered` needs no check,
    /// `registered` and `connected` are verified first.
    public static let creatable: [ConnectionStatus] = [.discovered, .registered, .connected]

    public static func < (lhs: ConnectionStatus, rhs: ConnectionStatus) -> Bool {
        lhs.order < rhs.order
    }

    /// Position in the lifecycle's reading order, used to list statuses stably.
    private var order: Int {
        switch self {
        case .discovered: 0
        case .registered: 1
        case .connected: 2
        case .ignored: 3
        case .maintenance: 4
        case .disconnected: 5
        case .deleted: 6
        case .notFound: 7
        }
    }
}
