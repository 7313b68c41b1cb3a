import Foundation

/// A change to something other than a connection's status (a credential, an environment):
/// who did what, when. Never carries a secret.
public struct AuditEvent: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable, Codable {
        case created, updated, deleted
    }

    /// Position in the audit log, assigned by the store (0 until stored).
    public var sequence: Int64
    /// `credential` or `environment`.
    public var subjectType: String
    public var subjectId: UUID
    public var action: Action
    public var actor: String
    public var actorRole: ActorRole
    /// What changed, in words (field names, never values of secrets).
    public var detail: String?
    public var correlationId: UUID
    public var at: Date

    public init(sequence: Int64 = 0, subjectType: String, subjectId: UUID, action: Action, actor: String,
                actorRole: ActorRole, detail: String?, correlationId: UUID, at: Date) {
        self.sequence = sequence
        self.subjectType = subjectType
        self.subjectId = subjectId
        self.action = action
        self.actor = actor
        self.actorRole = actorRole
        self.detail = detail
        self.correlationId = correlationId
        self.at = at
    }
}
