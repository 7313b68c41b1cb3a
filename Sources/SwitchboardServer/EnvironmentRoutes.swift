import ConnectionLifecycle
import Foundation
import Hummingbird
import SwitchboardEngine
import StoreContract

/// Environments on Meshery's v1beta3 paths: CRUD, the connections in one, and membership.
struct EnvironmentRoutes<Context: RequestContext>: Sendable {
    let environments: EnvironmentService
    let engine: ConnectionEngine

    func register(on router: Router<Context>) {
        let group = router.group("api/environments")
        group.get(use: list)
        group.post(use: create)
        group.get("{environmentId}", use: show)
        group.put("{environmentId}", use: update)
        group.delete("{environmentId}", use: delete)
        group.get("{environmentId}/connections", use: connections)
        group.post("{environmentId}/connections/{connectionId}", use: add)
        group.delete("{environmentId}/connections/{connectionId}", use: remove)
        group.get("{environmentId}/events", use: events)
        group.get("{environmentId}/users", use: sharedUsers)
        group.post("{environmentId}/users/{userName}", use: share)
        group.delete("{environmentId}/users/{userName}", use: unshare)
    }

    struct Payload: Decodable {
        var name: String?
        var description: String?
        var metadata: [String: JSONValue]?
        /// Meshery requires it; Switchboard has no organizations and ignores it.
        var organizationId: String?
        /// Connections to put in a new environment at once.
        var connections: [UUID]?
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let parameters = try QueryValue.parameters(request)
        let (page, pageSize) = try QueryValue.paging(parameters)
        let search = try QueryValue.search(parameters)
        let principal = RequestPrincipal.current
        let listing = try await environments.list(EnvironmentQuery(
            owner: principal.ownerScope, sharedWith: principal.isAdmin ? nil : principal.userId, search: search,
            page: page, pageSize: pageSize))
        return try JSONBody.response(EnvironmentPageResource(
            environments: try await resources(listing.environments), totalCount: listing.totalCount,
            page: page, pageSize: pageSize))
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let payload = try await JSONBody.decode(Payload.self, from: request)
        guard let name = payload.name else { throw Problem.badRequest("field 'name' is required", field: "name") }
        for member in payload.connections ?? [] { _ = try await visibleConnection(member, field: "connections") }
        let environment = try await environments.create(
            name: name, description: payload.description, metadata: payload.metadata ?? [:],
            members: payload.connections ?? [], owner: RequestPrincipal.current.userId, by: RequestPrincipal.current)
        return try JSONBody.response(try await resource(environment), status: .created)
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await resource(try await visible(try Self.environmentId(context), toChange: false)))
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let id = try Self.environmentId(context)
        _ = try await visible(id)
        let payload = try await JSONBody.decode(Payload.self, from: request)
        if payload.connections != nil {
            throw Problem.badRequest("change membership with POST or DELETE /api/environments/{environmentId}/connections/{connectionId}",
                                     field: "connections")
        }
        let environment = try await environments.update(id, name: payload.name, description: payload.description,
                                                        metadata: payload.metadata, by: RequestPrincipal.current)
        return try JSONBody.response(try await resource(environment))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try await environments.delete(try await visible(try Self.environmentId(context)).id, by: RequestPrincipal.current)
        return Response(status: .noContent)
    }

    /// The environment's connections, in the connection list's shape and with its filters.
    @Sendable func connections(_ request: Request, context: Context) async throws -> Response {
        let id = try Self.environmentId(context)
        _ = try await visible(id, toChange: false)
        let parameters = try QueryValue.parameters(request)
        let (page, pageSize) = try QueryValue.paging(parameters)
        let search = try QueryValue.search(parameters)
        // Shared with the caller: all its connections are theirs to see. Otherwise only what
        // they may see anyway (an admin may have added others' connections to it).
        let principal = RequestPrincipal.current
        var seesAll = principal.isAdmin
        if !seesAll, let user = principal.userId { seesAll = try await engine.isEnvironmentShared(id, with: user) }
        let listing = try await engine.list(ConnectionQuery(
            environments: [id], owner: seesAll ? nil : principal.ownerScope, sharedWith: seesAll ? nil : principal.userId,
            search: search, page: page, pageSize: pageSize))
        return JSONBody.response(written: try await ConnectionResources.page(
            listing, page: page, pageSize: pageSize, omit: try ListOmissions(parameters), engine: engine))
    }

    @Sendable func add(_ request: Request, context: Context) async throws -> Response {
        let id = try Self.environmentId(context)
        let connectionId = try QueryValue.uuid(try context.parameters.require("connectionId"), name: "connectionId")
        _ = try await visible(id)
        _ = try await visibleConnection(connectionId, field: nil)
        try await environments.add(connectionId, to: id, by: RequestPrincipal.current)
        // 201, as Meshery's schema has it, with the connection as it is now (its environments).
        return try await membership(id, connectionId, status: .created)
    }

    @Sendable func remove(_ request: Request, context: Context) async throws -> Response {
        let id = try Self.environmentId(context)
        let connectionId = try QueryValue.uuid(try context.parameters.require("connectionId"), name: "connectionId")
        _ = try await visible(id)
        _ = try await Visibility.connection(connectionId, for: .read, engine: engine)
        try await environments.remove(connectionId, from: id, by: RequestPrincipal.current)
        return Response(status: .noContent)
    }

    @Sendable func events(_ request: Request, context: Context) async throws -> Response {
        let id = try Self.environmentId(context)
        _ = try await visible(id, toChange: false)
        return try JSONBody.response(AuditPageResource(events: try await environments.history(id).map(AuditResource.init)))
    }

    /// The connection as it is now, with the environments it belongs to.
    private func membership(_ environmentId: UUID, _ connectionId: UUID, status: HTTPResponse.Status) async throws -> Response {
        let connection = try await Visibility.connection(connectionId, for: .read, engine: engine)
        return JSONBody.response(written: try await ConnectionResources.one(connection, engine: engine), status: status)
    }

    /// The environment, when the signed-in user may see it (else it does not exist for them).
    /// Owners and admins may change it; members it is shared with may only read it.
    private func visible(_ id: UUID, toChange: Bool = true) async throws -> ConnectionLifecycle.Environment {
        let environment = try await environments.get(id)
        let principal = RequestPrincipal.current
        if principal.sees(owner: environment.owner) { return environment }
        guard let user = principal.userId, try await engine.isEnvironmentShared(id, with: user) else {
            throw EngineError.environmentNotFound(id)
        }
        guard !toChange else {
            throw Problem("forbidden", title: "Shared with you to read only", status: .forbidden,
                          detail: "environment \(id.lowercasedString) is shared with you: you may read it, not change it")
        }
        return environment
    }

    @Sendable func sharedUsers(_ request: Request, context: Context) async throws -> Response {
        let id = try Self.environmentId(context)
        _ = try await visible(id)
        return try JSONBody.response(SharedUsersResource(users: try await environments.sharedUsers(id)))
    }

    @Sendable func share(_ request: Request, context: Context) async throws -> Response {
        try await changeSharing(context, true)
    }

    @Sendable func unshare(_ request: Request, context: Context) async throws -> Response {
        try await changeSharing(context, false)
    }

    /// Only admins share environments.
    private func changeSharing(_ context: Context, _ shared: Bool) async throws -> Response {
        let id = try Self.environmentId(context)
        _ = try await visible(id)
        guard RequestPrincipal.current.isAdmin else {
            throw Problem("forbidden", title: "Only admins share environments", status: .forbidden,
                          detail: "ask an admin to share environment \(id.lowercasedString)")
        }
        let userName = try context.parameters.require("userName")
        try await environments.share(id, with: userName, shared, by: RequestPrincipal.current)
        return try JSONBody.response(SharedUsersResource(users: try await environments.sharedUsers(id)))
    }

    /// A connection the user may see; one they may not is reported as missing.
    private func visibleConnection(_ id: UUID, field: String?) async throws -> Connection {
        guard let connection = try await engine.connectionIfPresent(id: id), connection.status != .deleted,
              RequestPrincipal.current.sees(owner: connection.owner) else {
            if let field { throw EngineError.invalid(field: field, detail: "connection \(id.lowercasedString) does not exist") }
            throw EngineError.notFound(id)
        }
        return connection
    }

    /// Environments on the wire with their owners' names (people read names, not ids).
    private func resources(_ list: [ConnectionLifecycle.Environment]) async throws -> [EnvironmentResource] {
        let names = try await engine.userNames(ids: Set(list.compactMap(\.owner)))
        return list.map { EnvironmentResource($0, ownerName: $0.owner.flatMap { names[$0] }) }
    }

    private func resource(_ environment: ConnectionLifecycle.Environment) async throws -> EnvironmentResource {
        try await resources([environment])[0]
    }

    static func environmentId(_ context: Context) throws -> UUID {
        try QueryValue.uuid(try context.parameters.require("environmentId"), name: "environmentId")
    }

}

/// An environment on the wire: Meshery's v1beta3 `Environment`.
struct EnvironmentResource: Encodable {
    static let schemaVersion = "environments.meshery.io/v1beta3"
    /// Switchboard has no organizations, and Meshery's schema requires one: every environment
    /// belongs to this one, fixed id (documented in the API document), so a client that groups
    /// or filters by organization sees a single one that never changes.
    static let defaultOrganizationId = "9b3f0c7e-5d1a-4c2e-8f6b-3a7d2e1c0b9a"

    var id: String
    var schemaVersion = Self.schemaVersion
    var name: String
    @NullWhenAbsent var description: String?
    var organizationId = Self.defaultOrganizationId
    @NullWhenAbsent var owner: String?
    /// The owner's user name, on the environment routes; left out inside a connection, where
    /// the list of a page's environments would cost a user lookup each.
    var ownerName: String?
    var metadata: [String: JSONValue]
    var createdAt: Date
    var updatedAt: Date
    @NullWhenAbsent var deletedAt: Date?

    init(_ environment: ConnectionLifecycle.Environment, ownerName: String? = nil) {
        id = environment.id.lowercasedString
        name = environment.name
        description = environment.description
        owner = environment.owner?.lowercasedString
        self.ownerName = ownerName
        metadata = environment.metadata
        createdAt = environment.createdAt
        updatedAt = environment.updatedAt
        deletedAt = nil
    }

    /// The same JSON the encoder writes (keys sorted), inside a connection written by hand.
    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.key("createdAt"); json.date(createdAt)
            json.key("deletedAt"); if let deletedAt { json.date(deletedAt) } else { json.null() }
            json.key("description"); if let description { json.string(description) } else { json.null() }
            json.key("id"); json.string(id)
            json.key("metadata"); json.value(.object(metadata))
            json.key("name"); json.string(name)
            json.key("organizationId"); json.string(organizationId)
            json.key("owner"); if let owner { json.string(owner) } else { json.null() }
            json.key("schemaVersion"); json.string(schemaVersion)
            json.key("updatedAt"); json.date(updatedAt)
        }
    }
}

struct SharedUsersResource: Encodable {
    var users: [String]
}

struct EnvironmentPageResource: Encodable {
    var environments: [EnvironmentResource]
    var totalCount: Int
    var page: Int
    var pageSize: Int
}
