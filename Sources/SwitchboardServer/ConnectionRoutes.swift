import ConnectionLifecycle
import Foundation
import HTTPTypes
import Hummingbird
import SwitchboardEngine
import StoreContract

/// The connections API: Meshery's paths and shapes, with every status change routed
/// through the engine.
struct ConnectionRoutes<Context: RequestContext>: Sendable {
    let engine: ConnectionEngine
    let limits: RouteLimits
    let shown = ConnectionJSONCache()

    static var maxBulkIds: Int { 1000 }

    func register(on router: Router<Context>) {
        let connections = router.group("api/integrations/connections")
        connections.get(use: list)
        connections.post(use: create)
        connections.post("transitions", use: bulkTransition)
        connections.get("{connectionId}", use: show)
        connections.put("{connectionId}", use: update)
        connections.delete("{connectionId}", use: delete)
        connections.post("{connectionId}/transitions", use: transition)
        connections.get("{connectionId}/events", use: events)
        connections.post("{connectionId}/ping", use: ping)
        connections.get("{connectionId}/data", use: collectedData)
    }

    // MARK: Handlers

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let parameters = try QueryValue.parameters(request)
        let (page, pageSize) = try QueryValue.paging(parameters)
        let statuses = try QueryValue.filter(parameters, "status").map { try QueryValue.status($0, field: "status") }
        var order = ConnectionOrder.default
        if let text = try QueryValue.one(parameters, "order"), !text.isEmpty {
            guard let parsed = ConnectionOrder(parsing: text) else {
                throw Problem.badRequest("order '\(text)' is not valid; use a field (\(ConnectionOrder.Field.allCases.map(\.rawValue).joined(separator: ", "))), in camelCase or snake_case, and optionally asc or desc, e.g. 'name asc'", field: "order")
            }
            order = parsed
        }
        let query = ConnectionQuery(
            kinds: try QueryValue.list(parameters, name: "kind", limit: 255),
            statuses: statuses,
            types: try QueryValue.list(parameters, name: "type", limit: 255),
            environments: try QueryValue.filter(parameters, "environment").map { try QueryValue.uuid($0, name: "environment") },
            owner: RequestPrincipal.current.ownerScope,
            sharedWith: RequestPrincipal.current.isAdmin ? nil : RequestPrincipal.current.userId,
            name: try QueryValue.text(QueryValue.one(parameters, "name"), name: "name", limit: 255),
            search: try QueryValue.search(parameters),
            order: order, page: page, pageSize: pageSize
        )
        let omit = try ListOmissions(parameters)
        let listing = try await engine.list(query)
        return JSONBody.response(written: try await ConnectionResources.page(listing, page: page, pageSize: pageSize,
                                                                             omit: omit, engine: engine))
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let payload = try await JSONBody.decode(ConnectionPayload.self, from: request)
        guard let name = payload.name else { throw Problem.badRequest("field 'name' is required", field: "name") }
        guard let kind = payload.kind, !kind.isEmpty else { throw Problem.badRequest("field 'kind' is required", field: "kind") }
        // A member's chosen id is not used: whether it is taken would tell them about rows
        // they cannot see. An admin sees every row, so a 409 tells an admin nothing new.
        let chosenId = RequestPrincipal.current.isAdmin ? payload.id : nil
        let new = NewConnection(
            id: chosenId, name: name, description: payload.description, url: payload.url, kind: kind,
            type: payload.type, subType: payload.subType,
            status: try payload.status.map { try QueryValue.status($0, field: "status") },
            credentialId: payload.credentialId, owner: RequestPrincipal.current.userId, metadata: payload.metadata ?? [:]
        )
        try await Visibility.checkCredential(payload.credentialId, engine: engine)
        try Visibility.checkMetadata(payload.metadata)
        if let id = chosenId, try await engine.connectionIfPresent(id: id) != nil {
            throw Problem("already-exists", title: "The connection already exists", status: .conflict,
                          detail: "connection \(id.lowercasedString) already exists; use PUT to change it")
        }
        // Meshery's clients send `credentialSecret: {}` when there is no secret: that is none.
        let secret = SecretText.values(payload.credentialSecret).flatMap { $0.isEmpty ? nil : $0 }
        if payload.credentialId != nil, secret != nil {
            throw Problem.badRequest("give either credentialId (an existing credential) or credentialSecret (a new one), not both",
                                     field: "credentialSecret")
        }
        // A server registering itself again (after a restart) gets its connection back, refreshed: 200.
        let (connection, created) = try await engine.register(new, secret: secret, by: RequestPrincipal.current,
                                                              reason: payload.reason, correlationId: request.correlationId)
        var response = JSONBody.response(written: try await resource(connection), status: created ? .created : .ok)
        response.headers[.location] = "/api/integrations/connections/\(connection.id.lowercasedString)"
        return response
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        let id = try connectionId(context)
        // One read for the row, its health and its environments: the API's most frequent call.
        let details = try await engine.details(of: id)
        try await Visibility.check(details.connection, for: .read, engine: engine)
        let json = shown.json(for: details) {
            var writer = JSONWriter()
            ConnectionResource(details.connection, kind: engine.kind(of: details.connection),
                               health: details.health, environments: details.environments).write(to: &writer)
            return ByteBuffer(bytes: writer.bytes)
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: json))
    }

    @Sendable func ping(_ request: Request, context: Context) async throws -> Response {
        let id = try await visibleConnection(context).id
        let (connection, result) = try await limits.ping.run { try await engine.ping(id) }
        return try JSONBody.response(PingResource(
            connectionId: connection.id.lowercasedString, status: connection.status, health: result.health,
            reachable: result.isReachable, latencyMs: result.latencyMilliseconds, error: result.error,
            details: result.details, checkedAt: Date()))
    }

    @Sendable func collectedData(_ request: Request, context: Context) async throws -> Response {
        let id = try await visibleConnection(context).id
        let items = try await engine.collectedData(connectionId: id)
        return try JSONBody.response(CollectedDataResource(
            connectionId: id.lowercasedString,
            items: items.mapValues { CollectedDataResource.Item(value: $0.value, collectedAt: $0.collectedAt) }))
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let id = try connectionId(context)
        let payload = try await JSONBody.decode(ConnectionPayload.self, from: request)
        let current = try await visibleConnection(context, for: .change)
        try await Visibility.checkCredential(payload.credentialId, engine: engine)
        try Visibility.checkMetadata(payload.metadata)
        if let bodyId = payload.id, bodyId != id {
            throw Problem.badRequest("the body's id \(bodyId.lowercasedString) differs from the path's \(id.lowercasedString)", field: "id")
        }
        for (field, given, stored) in [("kind", payload.kind, current.kind), ("type", payload.type, current.type),
                                       ("subType", payload.subType, current.subType)] {
            if let given, given != stored {
                throw Problem.badRequest("\(field) cannot change (it is '\(stored)'); create a new connection instead", field: field)
            }
        }
        let status = try payload.status.map { try QueryValue.status($0, field: "status") }
        let patch = ConnectionPatch(name: payload.name, description: payload.description, url: payload.url,
                                    credentialId: payload.credentialId, metadata: payload.metadata)
        let updated = try await engine.change(id, to: status == current.status ? nil : status, patch: patch,
                                              by: RequestPrincipal.current, reason: payload.reason,
                                              correlationId: request.correlationId)
        return JSONBody.response(written: try await resource(updated))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try await engine.transition(try await visibleConnection(context, for: .change).id, to: .deleted, by: RequestPrincipal.current,
                                    reason: QueryValue.one(QueryValue.parameters(request), "reason"),
                                    correlationId: request.correlationId)
        return Response(status: .noContent)
    }

    @Sendable func transition(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(TransitionBody.self, from: request)
        let status = try QueryValue.status(body.status, field: "status")
        let id = try await visibleConnection(context, for: status == .deleted ? .change : .transition).id
        let principal = RequestPrincipal.current
        let correlation = request.correlationId
        let connection = try await limits.transitions.run {
            try await engine.transition(id, to: status, by: principal, reason: body.reason, correlationId: correlation)
        }
        return JSONBody.response(written: try await resource(connection))
    }

    @Sendable func bulkTransition(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(BulkTransitionBody.self, from: request)
        let status = try QueryValue.status(body.status, field: "status")
        guard (1...Self.maxBulkIds).contains(body.ids.count) else {
            throw Problem.badRequest("ids must hold between 1 and \(Self.maxBulkIds) connection ids, not \(body.ids.count)", field: "ids")
        }
        guard Set(body.ids).count == body.ids.count else {
            throw Problem.badRequest("ids lists a connection more than once", field: "ids")
        }
        // Checked once for the whole request, not refused row by row.
        try ConnectionRules.check(reason: body.reason)
        let engine = engine
        let use: Visibility.Use = status == .deleted ? .change : .transition
        let principal = RequestPrincipal.current
        let correlation = request.correlationId
        let outcomes = try await limits.bulkTransitions.run {
            await engine.transitionMany(body.ids, to: status, by: principal, reason: body.reason,
                                        correlationId: correlation) { connection in
                try await Visibility.check(connection, for: use, engine: engine)
            }
        }
        let moved = body.ids.compactMap { id -> Connection? in
            if case .success(let connection)? = outcomes[id] { return connection }
            return nil
        }
        let shown = Dictionary(uniqueKeysWithValues: try await ConnectionResources.many(moved, engine: engine).map { ($0.id, $0) })
        let finished = body.ids.map { id in
            Self.bulkResult(id, outcomes[id] ?? .failure(EngineError.notFound(id)), shown: shown, engine: engine)
        }
        let succeeded = finished.filter(\.ok).count
        var writer = JSONWriter(capacity: finished.count * 3000)
        try BulkTransitionResponse(results: finished, succeeded: succeeded, failed: finished.count - succeeded).write(to: &writer)
        return JSONBody.response(written: writer)
    }

    @Sendable func events(_ request: Request, context: Context) async throws -> Response {
        let id = try await visibleConnection(context).id
        let parameters = try QueryValue.parameters(request)
        let (page, pageSize) = try QueryValue.paging(parameters, defaultSize: 25)
        let events = try await engine.events(connectionId: id, page: page, pageSize: pageSize)
        return try JSONBody.response(EventPageResource(events: events.events.map(EventResource.init),
                                                       totalCount: events.totalCount, page: page, pageSize: pageSize))
    }

    // MARK: Helpers

    private static func bulkResult(_ id: UUID, _ outcome: Result<Connection, any Error>, shown: [String: ConnectionResource],
                                   engine: ConnectionEngine) -> BulkTransitionResult {
        switch outcome {
        case .success(let connection):
            return BulkTransitionResult(id: id.lowercasedString, ok: true, status: connection.status,
                                        connection: shown[connection.id.lowercasedString]
                                            ?? ConnectionResource(connection, kind: engine.kind(of: connection)))
        case .failure(let error as EngineError):
            let problem = Problem(error, kinds: engine.kinds)
            return BulkTransitionResult(id: id.lowercasedString, ok: false, status: problem.connection?.status, error: problem)
        case .failure(let problem as Problem):
            return BulkTransitionResult(id: id.lowercasedString, ok: false, error: problem)
        case .failure(let unavailable as StoreUnavailable):
            return BulkTransitionResult(id: id.lowercasedString, ok: false, error: Problem(unavailable))
        case .failure(let error):
            return BulkTransitionResult(id: id.lowercasedString, ok: false, error: Problem(
                "internal-error", title: "Internal server error", status: .internalServerError, detail: "\(error)"))
        }
    }

    /// The connection as `GET` shows it (health and environments too), written.
    private func resource(_ connection: Connection) async throws -> JSONWriter {
        try await ConnectionResources.one(connection, engine: engine)
    }

    /// The path's connection, when the signed-in user may see it; otherwise it does not
    /// exist for them (404, so ids do not leak).
    private func visibleConnection(_ context: Context, for use: Visibility.Use = .read) async throws -> Connection {
        try await Visibility.connection(try connectionId(context), for: use, engine: engine)
    }

    private func connectionId(_ context: Context) throws -> UUID {
        try QueryValue.uuid(try context.parameters.require("connectionId"), name: "connectionId")
    }

}

extension Request {
    /// The client's `X-Correlation-Id` when it is a UUID, so a client can find its own
    /// change in the event log; a fresh one otherwise.
    var correlationId: UUID {
        headers[HTTPField.Name.correlationId].flatMap(UUID.init(uuidString:)) ?? UUID()
    }
}

extension HTTPField.Name {
    // The name is a valid token, so the initializer cannot fail; `accept` is a safe stand-in.
    static let correlationId = HTTPField.Name("X-Correlation-Id") ?? .accept
}

/// Query string values, checked: anything out of range is a 400 that names the parameter.
enum QueryValue {
    /// The largest page any list gives.
    static var maxPageSize: Int { 100 }

    /// `page` (from 0) and the page size, `pageSize` or Meshery's `pagesize` (`pageSize` wins when
    /// both are given; both are checked). See `pageSize(_:name:default:)`.
    static func paging(_ parameters: Parameters, defaultSize: Int = 10) throws -> (page: Int, pageSize: Int) {
        let page = try integer(one(parameters, "page"), name: "page", default: 0, range: 0...Int(Int32.max))
        let alias = try pageSize(one(parameters, "pagesize"), name: "pagesize", default: defaultSize)
        // Left out or empty, `pageSize` yields to `pagesize`; given, it wins (`pageSize=0` is the default).
        guard let given = try one(parameters, "pageSize"), !given.isEmpty else { return (page, alias) }
        return (page, try pageSize(given, name: "pageSize", default: defaultSize))
    }

    /// A page size read as Meshery's server reads it (`GetConnections` in its
    /// `server/handlers/connections_handlers.go`), so its clients' requests work: left out or
    /// empty, the default; `all`, the largest page; a whole number above the largest page is
    /// clamped to it, one below 1 means the default. Anything else is a 400: a typo should not
    /// silently become a page size.
    static func pageSize(_ text: String?, name: String, default value: Int) throws -> Int {
        guard let text, !text.isEmpty else { return value }
        if text == "all" { return maxPageSize }
        if let number = Int(text) { return number > maxPageSize ? maxPageSize : (number < 1 ? value : number) }
        // A whole number too long for Int is still one: clamped like the others.
        let digits = text.first == "-" || text.first == "+" ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw Problem.badRequest("\(name) must be a whole number (1 to \(maxPageSize); larger ones are taken as \(maxPageSize)) or 'all', not '\(text)'", field: name)
        }
        return text.first == "-" ? value : maxPageSize
    }

    /// `search`, up to 500 characters as Meshery's schema allows; empty is no search.
    static func search(_ parameters: Parameters) throws -> String? {
        try text(one(parameters, "search"), name: "search", limit: 500)
    }

    /// The query string's parameters, decoded as an HTML form encodes them: `+` is a space (a
    /// plus sign arrives as `%2B`), then percent-escapes, in names and values alike. Browsers'
    /// `URLSearchParams` send spaces so (`status=not+found`, `search=my+cluster`).
    /// None may hold U+0000 (see `JSONBody.nulDetail`).
    static func parameters(_ request: Request) throws -> Parameters {
        try parameters(query: request.uri.query)
    }

    /// The same from the query string itself (what the fuzz target feeds in).
    static func parameters(query: String?) throws -> Parameters {
        guard let query, !query.isEmpty else { return Parameters() }
        let parameters = Parameters(query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (key: formDecoded(parts[0]), value: parts.count > 1 ? formDecoded(parts[1]) : "")
        })
        if let held = parameters.first(where: { $0.key.contains("\0") || $0.value.contains("\0") }) {
            throw Problem.badRequest(JSONBody.nulDetail, field: String(held.key))
        }
        return parameters
    }

    private static func formDecoded(_ text: Substring) -> Substring {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return Substring(spaced.removingPercentEncoding ?? spaced)
    }

    /// The value of a parameter given at most once: a second `page=` is refused, not guessed at.
    static func one(_ parameters: Parameters, _ name: String) throws -> String? {
        let values = parameters.getAll(name)
        guard values.count <= 1 else {
            throw Problem.badRequest("\(name) is given \(values.count) times; give it once", field: name)
        }
        return values.first
    }

    static func uuid(_ text: String?, name: String) throws -> UUID {
        guard let text, !text.isEmpty else { throw Problem.badRequest("\(name) is required", field: name) }
        guard let id = UUID(canonical: text) else { throw Problem.badRequest("\(name) '\(text)' is not a UUID", field: name) }
        return id
    }

    /// Left out, the default; given (even empty), a whole number in `range`.
    static func integer(_ text: String?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw Problem.badRequest("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'", field: name)
        }
        return number
    }

    static func status(_ text: String, field: String) throws -> ConnectionStatus {
        guard let status = ConnectionStatus(rawValue: text) else {
            throw Problem.badRequest("'\(text)' is not a connection status; use one of \(ConnectionStatus.allCases.map(\.wireName).joined(separator: ", "))", field: field)
        }
        return status
    }

    /// At most `limit` characters, counted as JSON Schema's `maxLength` counts them (Unicode
    /// scalars).
    static func text(_ value: String?, name: String, limit: Int) throws -> String? {
        guard let value, !value.isEmpty else { return nil }
        guard value.unicodeScalars.count <= limit else {
            throw Problem.badRequest("\(name) is longer than \(limit) characters", field: name)
        }
        return value
    }

    /// A repeatable filter of names (`kind`, `type`) read as `filter` reads it, whose every value
    /// is at most `limit` characters: a comma-separated one as a whole, as the API document's
    /// `maxLength` counts it, a JSON array's one by one. Empty names are dropped.
    static func list(_ parameters: Parameters, name: String, limit: Int) throws -> [String] {
        try parameters.getAll(name).flatMap { value -> [String] in
            guard value.unicodeScalars.first == "[" else {
                _ = try text(value, name: name, limit: limit)
                return commaSeparated(value)
            }
            return try jsonArray(value, name: name).compactMap {
                try text($0.trimmingCharacters(in: .whitespaces), name: name, limit: limit)
            }
        }
    }

    /// The values of a repeatable filter: `kind=a&kind=b`, `kind=a,b` and the JSON array Meshery's
    /// UI sends and its server reads, `kind=["a","b"]`, all mean a or b. An empty value (`status=`,
    /// `status=[]`) is no filter: Meshery's UI sends `status=&kind=` when nothing is chosen.
    /// Inside a comma-separated list an empty piece (`environment=a,,b`) is kept, for the caller
    /// to refuse as no status or id.
    static func filter(_ parameters: Parameters, _ name: String) throws -> [String] {
        try parameters.getAll(name).flatMap { value -> [String] in
            if value.isEmpty { return [] }
            if value.unicodeScalars.first == "[" { return try jsonArray(value, name: name) }
            return pieces(value)
        }
    }

    /// A filter written as a JSON array of strings; anything else that starts with `[` is a 400,
    /// not a value to match (which would silently match nothing).
    private static func jsonArray(_ value: String, name: String) throws -> [String] {
        guard let values = try? JSONDecoder().decode([String].self, from: Data(value.utf8)) else {
            throw Problem.badRequest("\(name) starts with '[' but is not a JSON array of strings; write it as [\"a\",\"b\"], as a,b, or repeat \(name)=", field: name)
        }
        if values.contains(where: { $0.contains("\0") }) { throw Problem.badRequest(JSONBody.nulDetail, field: name) }
        return values
    }

    /// The comma-separated values of a list of statuses or ids, exactly as given: an empty one
    /// (`environment=a,,b`) is kept, to be refused as no status or id.
    static func pieces(_ value: String) -> [String] {
        value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    /// `kind=a,b` means the same as `kind=a&kind=b`.
    static func commaSeparated(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
