import ConnectionLifecycle

/// Who asks for a change: a named user, or Switchboard itself. Recorded on every event.
public struct Principal: Sendable, Hashable {
    public var name: String
    public var role: ActorRole

    public init(name: String, role: ActorRole) {
        self.name = name
        self.role = role
    }

    public static let system = Principal(name: "system", role: .system)

    /// A user request that carries no identity (authentication arrives with users and tokens).
    public static let anonymousUser = Principal(name: "anonymous", role: .user)

    public static func user(_ name: String) -> Principal { Principal(name: name, role: .user) }
}
