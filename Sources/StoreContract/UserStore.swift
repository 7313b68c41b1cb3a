import ConnectionLifecycle
import Foundation

/// Users and their API tokens (stored as hashes).
public protocol UserStore: Sendable {
    func user(named name: String) async throws -> User?
    func insertUser(_ user: User) async throws
    func insertToken(_ token: APIToken) async throws
    /// The token with this hash and its user.
    func token(hash: String) async throws -> (APIToken, User)?
    /// Every token with its user, newest first.
    func tokens() async throws -> [(APIToken, User)]
    /// Marks a token revoked; false when there is no such token.
    func revokeToken(id: UUID, at: Date) async throws -> Bool
    /// The names of the users with these ids (ids of no user are left out).
    func userNames(ids: Set<UUID>) async throws -> [UUID: String]
    /// How many admins have a token that is not revoked (none: the server needs a first one).
    func adminCount() async throws -> Int
}
