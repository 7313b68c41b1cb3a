import ConnectionLifecycle
import Foundation
import Hummingbird
import SwitchboardEngine
import StoreContract

/// Credentials on Meshery's v1beta2 paths: list, create, update (id in the body), delete
/// (`?credentialId=`), read one. The secret is write-only: responses name its keys only.
struct CredentialRoutes<Context: RequestContext>: Sendable {
    let credentials: CredentialService
    let engine: ConnectionEngine

    func register(on router: Router<Context>) {
        let group = router.group("api/integrations/credentials")
        group.get(use: list)
        group.post(use: create)
        group.put(use: update)
        group.delete(use: delete)
        group.get("{credentialId}", use: show)
        group.get("{credentialId}/events", use: events)
    }

    struct Payload: Decodable {
        var id: UUID?
        var name: String?
        var type: String?
        /// Text, numbers and booleans (see `SecretText`).
        var secret: [String: SecretText]?
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let parameters = try QueryValue.parameters(request)
        let (page, pageSize) = try QueryValue.paging(parameters)
        let search = try QueryValue.search(parameters)
        let listing = try await credentials.list(CredentialQuery(owner: RequestPrincipal.current.ownerScope, search: search,
                                                                 page: page, pageSize: pageSize))
        return try JSONBody.response(CredentialPageResource(
            credentials: listing.credentials.map(CredentialResource.init), totalCount: listing.totalCount,
            page: page, pageSize: pageSize))
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let payload = try await JSONBody.decode(Payload.self, from: request)
        guard let name = payload.name else { throw Problem.badRequest("field 'name' is required", field: "name") }
        guard let type = payload.type else { throw Problem.badRequest("field 'type' is required", field: "type") }
        guard let secret = SecretText.values(payload.secret) else {
            throw Problem.badRequest("field 'secret' is required: an object of text, number or boolean values, e.g. {\"token\": \"...\"}",
                                     field: "secret")
        }
        let created = try await credentials.create(name: name, type: type, secret: secret,
                                                   owner: RequestPrincipal.current.userId, by: RequestPrincipal.current)
        return try JSONBody.response(CredentialResource(created), status: .created)
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let payload = try await JSONBody.decode(Payload.self, from: request)
        guard let id = payload.id else {
            throw Problem.badRequest("field 'id' is required: the credential to update", field: "id")
        }
        _ = try await visible(id)
        let updated = try await credentials.update(id, name: payload.name, type: payload.type, secret: SecretText.values(payload.secret),
                                                   by: RequestPrincipal.current)
        return try JSONBody.response(CredentialResource(updated))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        // Meshery's UI spells it `credential_id` (`ui/rtk-query/credentials.ts`), its schema `credentialId`.
        let parameters = try QueryValue.parameters(request)
        let id = try QueryValue.uuid(QueryValue.one(parameters, "credentialId") ?? QueryValue.one(parameters, "credential_id"),
                                     name: "credentialId")
        _ = try await visible(id)
        do {
            try await credentials.delete(id, by: RequestPrincipal.current)
        } catch EngineError.credentialInUse(_, let users) {
            // Name only the connections the caller may see; count the others.
            var visible: [UUID] = []
            for user in users where (try? await Visibility.connection(user, for: .read, engine: engine)) != nil {
                visible.append(user)
            }
            let named = visible.prefix(5).map(\.lowercasedString).joined(separator: ", ")
            throw Problem("credential-in-use", title: "Connections use this credential", status: .conflict,
                          detail: "credential \(id.lowercasedString) is used by \(users.count) connection(s)\(named.isEmpty ? "" : " (\(named))"); delete them or give them another credential first")
        }
        return Response(status: .noContent)
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        let id = try QueryValue.uuid(try context.parameters.require("credentialId"), name: "credentialId")
        return try JSONBody.response(CredentialResource(try await visible(id)))
    }

    /// The credential, when the signed-in user may see it (else it does not exist for them).
    private func visible(_ id: UUID) async throws -> CredentialSummary {
        let summary = try await credentials.get(id)
        guard RequestPrincipal.current.sees(owner: summary.owner) else { throw EngineError.credentialNotFound(id) }
        return summary
    }

    @Sendable func events(_ request: Request, context: Context) async throws -> Response {
        let id = try QueryValue.uuid(try context.parameters.require("credentialId"), name: "credentialId")
        _ = try await visible(id)
        return try JSONBody.response(AuditPageResource(events: try await credentials.history(id).map(AuditResource.init)))
    }
}

/// A credential on the wire (Meshery's shape): the secret's key names, never its values.
struct CredentialResource: Encodable {
    var id: String
    var name: String
    var type: String
    @NullWhenAbsent var userId: String?
    /// Which secret keys are set; the values never leave the server.
    var secretKeys: [String]
    /// The key the secret is sealed with.
    var keyId: String
    var createdAt: Date
    var updatedAt: Date
    @NullWhenAbsent var deletedAt: Date?

    init(_ summary: CredentialSummary) {
        id = summary.id.lowercasedString
        name = summary.name
        type = summary.type
        userId = summary.owner?.lowercasedString
        secretKeys = summary.secretKeys
        keyId = summary.keyId
        createdAt = summary.createdAt
        updatedAt = summary.updatedAt
        deletedAt = nil
    }
}

struct CredentialPageResource: Encodable {
    var credentials: [CredentialResource]
    var totalCount: Int
    var page: Int
    var pageSize: Int
}

struct AuditResource: Encodable {
    var sequence: Int64
    var subjectType: String
    var subjectId: String
    var action: String
    var actor: String
    var actorRole: String
    @NullWhenAbsent var detail: String?
    var correlationId: String
    var at: Date

    init(_ event: AuditEvent) {
        sequence = event.sequence
        subjectType = event.subjectType
        subjectId = event.subjectId.lowercasedString
        action = event.action.rawValue
        actor = event.actor
        actorRole = event.actorRole.rawValue
        detail = event.detail
        correlationId = event.correlationId.lowercasedString
        at = event.at
    }
}

struct AuditPageResource: Encodable {
    var events: [AuditResource]
}
