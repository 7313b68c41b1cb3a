import ConnectionLifecycle
import Foundation
import StoreContract

/// Who asks for a change: a signed-in user, or Switchboard itself. Recorded on every event.
public struct Principal: Sendable, Hashable {
    public var name: String
    public var role: ActorRole
    /// The user behind a request (`nil` for the system and for servers without sign-in).
    public var userId: UUID?
    /// Admins see and change everything; others what they own.
    public var isAdmin: Bool
    /// A spoke server's token: it may register, heartbeat and deregister its own
    /// self-registering connections and nothing else.
    public var isServer: Bool

    public init(name: String, role: ActorRole, userId: UUID? = nil, isAdmin: Bool = false, isServer: Bool = false) {
        self.name = name
        self.role = role
        self.userId = userId
        self.isAdmin = isAdmin
        self.isServer = isServer
    }

    public static let system = Principal(name: "system", role: .system, isAdmin: true)

    /// A user request without an identity (embedding and tests without sign-in): it may do
    /// what an admin may.
    public static let anonymousUser = Principal(name: "anonymous", role: .user, isAdmin: true)

    /// No one: owns nothing, sees nothing (what a request is before it signs in).
    public static let nobody = Principal(name: "nobody", role: .user, isAdmin: false)

    public static func user(_ name: String) -> Principal { Principal(name: name, role: .user, isAdmin: true) }

    /// A signed-in user.
    public init(_ user: User) {
        self.init(name: user.name, role: .user, userId: user.id, isAdmin: user.role == .admin, isServer: user.role == .server)
    }

    /// Whether this principal may see something owned by `owner`.
    public func sees(owner: UUID?) -> Bool { isAdmin || (owner != nil && owner == userId) }

    /// The owner filter for this principal's lists: its own id, or none for admins.
    public var ownerScope: UUID? { isAdmin ? nil : userId ?? UUID() }
}

extension AuditEvent {
    /// An entry for `principal`'s change to a `subjectType` (credential, environment).
    init(of subjectType: String, _ id: UUID, _ action: Action, by principal: Principal, detail: String?, at: Date) {
        self.init(subjectType: subjectType, subjectId: id, action: action, actor: principal.name,
                  actorRole: principal.role, detail: detail, correlationId: UUID(), at: at)
    }
}

/// Runs a read-decide-write `attempt` again while it loses compare-and-set races to other
/// changes (each time on what is stored now); after five losses the caller hears `conflict`.
func retryingLostRaces<T>(_ id: UUID, _ attempt: () async throws -> T) async throws -> T {
    for _ in 1...ConnectionEngine.maxAttempts {
        do {
            return try await attempt()
        } catch StoreError.versionConflict {
            continue
        }
    }
    throw EngineError.conflict(id)
}
