import ConnectionLifecycle
import Foundation
import SwitchboardDrivers
import SwitchboardEngine

/// What the signed-in user may see: admins everything, members what they own. Anything
/// else answers as if it did not exist (404), so ids cannot be probed.
enum Visibility {
    /// What a request wants to do with a connection.
    enum Use { case read, transition, change }

    /// The connection, when the signed-in user may use it so: admins always; owners always;
    /// members it is shared with (through an environment) to read and transition. Otherwise
    /// it does not exist for them (404), or, when they can see it, they may not (403).
    static func connection(_ id: UUID, for use: Use, engine: ConnectionEngine) async throws -> Connection {
        let connection = try await engine.connection(id: id)
        try await check(connection, for: use, engine: engine)
        return connection
    }

    /// Whether the signed-in user may use `connection` so (see `connection(_:for:engine:)`).
    static func check(_ connection: Connection, for use: Use, engine: ConnectionEngine) async throws {
        let id = connection.id
        let principal = RequestPrincipal.current
        if principal.sees(owner: connection.owner) { return }
        guard let user = principal.userId, try await engine.isShared(id, with: user) else {
            throw EngineError.notFound(id)
        }
        guard use != .change else {
            throw Problem("forbidden", title: "Shared with you to read and transition only", status: .forbidden,
                          detail: "connection \(id.lowercasedString) is shared with you through an environment: you may read it and move it through the lifecycle, not change or delete it")
        }
    }

    /// Only an admin may point a connection at a file on the server (a token, a password, a
    /// kubeconfig), or a member could send the server's secrets to a URL of their choosing.
    static func checkMetadata(_ metadata: [String: JSONValue]?) throws {
        guard let metadata, !RequestPrincipal.current.isAdmin,
              let key = FileReferenceCredentials.Key.files.sorted().first(where: { metadata[$0] != nil }) else { return }
        throw Problem("forbidden", title: "Only admins name files on the server", status: .forbidden,
                      detail: "metadata.\(key) names a file on the server; only an admin may set it. Store the secret as a credential (POST /api/integrations/credentials) and use its credentialId.")
    }

    /// Refuses a credential id the user may not use (as not found).
    static func checkCredential(_ id: UUID?, engine: ConnectionEngine) async throws {
        guard let id else { return }
        let (owner, exists) = try await engine.credentialOwner(id: id)
        guard exists, RequestPrincipal.current.sees(owner: owner) else {
            throw EngineError.credentialNotFound(id)
        }
    }
}
