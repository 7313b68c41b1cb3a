import ConnectionLifecycle
import Foundation

/// Why the engine refused or could not finish a request, with what a caller needs to act.
public enum EngineError: Error, Sendable {
    /// No connection has this id.
    case notFound(UUID)
    /// The input breaks a rule; `field` names what to fix.
    case invalid(field: String, detail: String)
    case unknownKind(String, known: [String])
    /// The lifecycle does not permit the move; nothing changed.
    case rejected(Connection, requested: ConnectionStatus, TransitionRejection)
    /// The verify step failed. `connection` is as stored afterwards: moved to the edge's
    /// failure status, or unchanged when the edge keeps it where it was.
    case verifyFailed(Connection, requested: ConnectionStatus, reason: String)
    /// Other changes kept winning the compare-and-set; nothing changed.
    case conflict(UUID)
    /// The owner already has a live connection to the same target; nothing changed.
    case duplicate(existing: UUID, fingerprint: String)
    case credentialNotFound(UUID)
    case environmentNotFound(UUID)
    case notMember(UUID, environment: UUID)
    /// Live connections use the credential; nothing changed.
    case credentialInUse(UUID, by: [UUID])
    /// The caller's role may not do this (a `server` token outside peer registration).
    case forbidden(String)
    /// The connection was deleted; a peer's heartbeats for it are over until it registers again.
    case gone(UUID, detail: String)
    /// No server with this id is registered by the caller.
    case unknownServer(UUID)
}

extension EngineError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .notFound(let id): "connection \(id.lowercasedString) does not exist"
        case .forbidden(let detail): detail
        case .gone(_, let detail): detail
        case .unknownServer(let id):
            "no server \(id.lowercasedString) is registered here by this token's user; register it first (POST /api/integrations/connections with kind meshery and metadata server_id)"
        case .invalid(let field, let detail): "\(field): \(detail)"
        case .unknownKind(let kind, let known): "unknown kind '\(kind)'; known kinds: \(known.joined(separator: ", "))"
        case .rejected(_, _, let rejection): rejection.reason
        case .verifyFailed(let connection, let requested, let reason):
            "could not move connection \(connection.id.lowercasedString) to \(requested.wireName): \(reason); it is now \(connection.status.wireName)"
        case .conflict(let id):
            "connection \(id.lowercasedString) kept changing concurrently; retry the request"
        case .credentialNotFound(let id): "credential \(id.lowercasedString) does not exist"
        case .environmentNotFound(let id): "environment \(id.lowercasedString) does not exist"
        case .notMember(let connection, let environment):
            "connection \(connection.lowercasedString) is not in environment \(environment.lowercasedString)"
        case .credentialInUse(let id, let users):
            "credential \(id.lowercasedString) is used by \(users.count) connection(s) (\(users.prefix(5).map(\.lowercasedString).joined(separator: ", "))); delete them or give them another credential first"
        case .duplicate(let existing, let fingerprint):
            "connection \(existing.lowercasedString) already points at the same target (\(fingerprint))"
        }
    }
}
