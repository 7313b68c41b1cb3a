import ConnectionLifecycle
import Foundation
import HTTPTypes
import Hummingbird
import SwitchboardEngine

/// Meshery's routes for servers registered here (kind `meshery`): a spoke's heartbeat, its
/// "stopping" notice, and Meshery's deregistration. A spoke registers itself with the usual
/// `POST /api/integrations/connections`; the lease keeper does the rest.
struct PeerServerRoutes<Context: RequestContext>: Sendable {
    static var kind: String { "meshery" }
    let keeper: LeaseKeeper
    let engine: ConnectionEngine

    func register(on router: Router<Context>) {
        let servers = router.group("api/integrations/connections/\(Self.kind)")
        servers.post("{serverId}/heartbeat", use: heartbeat)
        servers.post("{serverId}/stop", use: stop)
        servers.delete("{serverId}", use: deregister)
    }

    @Sendable func heartbeat(_ request: Request, context: Context) async throws -> Response {
        let serverId = try serverId(context)
        let body = try await JSONBody.decode(HeartbeatBody.self, from: request)
        try body.check(serverId: serverId)
        let (connection, lease) = try await keeper.heartbeat(
            kind: Self.kind, serverId: serverId,
            report: HeartbeatReport(version: body.version, build: body.build, advertiseURL: body.advertiseUrl,
                                    summary: body.summary.value),
            by: RequestPrincipal.current)
        return try JSONBody.response(HubWire.HeartbeatAnswer(
            connectionId: connection.id.lowercasedString, status: connection.status.wireName,
            leaseSeconds: keeper.leases.duration.timeInterval, leaseExpiresAt: JSONBody.timestamp(lease.expiresAt)))
    }

    @Sendable func stop(_ request: Request, context: Context) async throws -> Response {
        let connection = try await keeper.stopped(kind: Self.kind, serverId: try serverId(context), by: RequestPrincipal.current)
        return JSONBody.response(written: try await ConnectionResources.one(connection, engine: engine))
    }

    @Sendable func deregister(_ request: Request, context: Context) async throws -> Response {
        _ = try await keeper.deregister(kind: Self.kind, serverId: try serverId(context), by: RequestPrincipal.current,
                                        correlationId: request.correlationId)
        return Response(status: .noContent)
    }

    private func serverId(_ context: Context) throws -> UUID {
        try QueryValue.uuid(try context.parameters.require("serverId"), name: "serverId")
    }
}

/// What a spoke sends with each heartbeat (`HubWire.Heartbeat`, read leniently: only the
/// summary is required).
struct HeartbeatBody: Decodable {
    var serverId: UUID?
    var version: String?
    var build: String?
    var advertiseUrl: String?
    var summary: HubWire.Summary

    /// Short texts, counts that can be counts, and the path's server id.
    func check(serverId path: UUID) throws {
        if let serverId, serverId != path {
            throw Problem.badRequest("the body's serverId \(serverId.lowercasedString) differs from the path's \(path.lowercasedString)", field: "serverId")
        }
        for (field, text, limit) in [("version", version, 255), ("build", build, 255), ("advertiseUrl", advertiseUrl, 2048)] {
            guard let text else { continue }
            guard text.unicodeScalars.count <= limit else {
                throw Problem.badRequest("\(field) is longer than \(limit) characters", field: field)
            }
            try ConnectionRules.checkDisplayable(text, field: field)
        }
        guard (0...100_000_000).contains(summary.totalCount) else {
            throw Problem.badRequest("summary.totalCount must be a count from 0 to 100000000", field: "summary.totalCount")
        }
        for (field, counts) in [("summary.byStatus", summary.byStatus), ("summary.byKind", summary.byKind)] {
            guard counts.count <= 100 else { throw Problem.badRequest("\(field) has more than 100 entries", field: field) }
            for (name, count) in counts {
                guard !name.isEmpty, name.unicodeScalars.count <= 255, (0...100_000_000).contains(count) else {
                    throw Problem.badRequest("\(field) maps names (1 to 255 characters) to counts from 0 to 100000000", field: field)
                }
                try ConnectionRules.checkDisplayable(name, field: field)
            }
        }
    }
}

extension HubWire.Summary {
    /// As kept in the connection's collected data.
    var value: JSONValue {
        .object([
            "totalCount": .number(Double(totalCount)),
            "byStatus": .object(byStatus.mapValues { .number(Double($0)) }),
            "byKind": .object(byKind.mapValues { .number(Double($0)) }),
        ])
    }
}

/// A `server` token may register, heartbeat and deregister its own peer connections and
/// nothing else: every other route answers 403 for it.
struct ServerTokenScope<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard RequestPrincipal.current.isServer, !Self.allows(request.method, request.uri.path) else {
            return try await next(request, context)
        }
        throw Problem("forbidden", title: "Not allowed for a server token", status: .forbidden,
                      detail: "a server token may only register its server (POST /api/integrations/connections), send heartbeats (POST /api/integrations/connections/meshery/{serverId}/heartbeat and /stop) and deregister (DELETE /api/integrations/connections/meshery/{serverId}); use a member or admin token for \(request.method) \(request.uri.path)")
    }

    static func allows(_ method: HTTPRequest.Method, _ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard parts.count >= 3, Array(parts.prefix(3)) == ["api", "integrations", "connections"] else { return false }
        let rest = Array(parts.dropFirst(3))
        switch (method, rest.count) {
        case (.post, 0): return true
        case (.delete, 2): return rest[0] == "meshery"
        case (.post, 3): return rest[0] == "meshery" && ["heartbeat", "stop"].contains(rest[2])
        default: return false
        }
    }
}
