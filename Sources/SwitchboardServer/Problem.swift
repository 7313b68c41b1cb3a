import ConnectionLifecycle
import Foundation
import Hummingbird
import NIOCore
import SwitchboardEngine
import StoreContract
import Synchronization

/// An RFC 9457 problem: every error the API returns has this shape and the media type
/// `application/problem+json`. `type` is a relative URI naming the problem kind.
struct Problem: Error, Encodable, Sendable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    /// Statuses that may be requested instead (illegal transitions).
    var allowed: [ConnectionStatus]?
    /// The connection as it is after the request (failed verification, illegal transition).
    var connection: ConnectionResource?
    /// The field to fix (bad input).
    var field: String?
    /// The connection that already points at the same target (duplicate).
    var existingConnectionId: String?

    init(_ slug: String, title: String, status: HTTPResponse.Status, detail: String,
         allowed: [ConnectionStatus]? = nil, connection: ConnectionResource? = nil, field: String? = nil) {
        self.type = "/problems/\(slug)"
        self.title = title
        self.status = status.code
        self.detail = detail
        self.allowed = allowed
        self.connection = connection
        self.field = field
    }

    static func badRequest(_ detail: String, field: String? = nil) -> Problem {
        Problem("invalid-request", title: "The request is not valid", status: .badRequest, detail: detail, field: field)
    }

    static func notFound(_ detail: String) -> Problem {
        Problem("not-found", title: "Not found", status: .notFound, detail: detail)
    }
}

extension Problem {
    func response() throws -> Response {
        var response = try JSONBody.response(self, status: HTTPResponse.Status(code: status),
                                             contentType: "application/problem+json")
        if status == 401 { response.headers[.wwwAuthenticate] = #"Bearer realm="switchboard""# }
        return response
    }
}

extension Problem {
    /// The problem an engine error means for an API client.
    init(_ error: EngineError, kinds: KindCatalog) {
        func resource(_ connection: Connection) -> ConnectionResource {
            ConnectionResource(connection, kind: kinds.kind(of: connection))
        }
        switch error {
        case .notFound, .unknownServer:
            self = .notFound(error.description)
        case .invalid(let field, _):
            self = .badRequest(error.description, field: field)
        case .unknownKind:
            self = .badRequest(error.description, field: "kind")
        case .rejected(let connection, let requested, let rejection):
            let allowed = rejection.allowed.isEmpty ? "none" : rejection.allowed.map(\.wireName).joined(separator: ", ")
            self.init("illegal-transition", title: "The lifecycle does not allow this transition", status: .conflict,
                      detail: "cannot move connection \(connection.id.lowercasedString) from \(connection.status.wireName) to \(requested.wireName): \(rejection.reason). Allowed from \(connection.status.wireName): \(allowed)",
                      allowed: rejection.allowed, connection: resource(connection))
        case .verifyFailed(let connection, _, _):
            self.init("verification-failed", title: "The connection's check failed", status: .unprocessableContent,
                      detail: error.description, connection: resource(connection))
        case .conflict:
            self.init("concurrent-change", title: "The connection changed concurrently", status: .conflict,
                      detail: error.description)
        case .credentialNotFound, .environmentNotFound, .notMember:
            self = .notFound(error.description)
        case .credentialInUse:
            self.init("credential-in-use", title: "Connections use this credential", status: .conflict,
                      detail: error.description)
        case .forbidden:
            self.init("forbidden", title: "Not allowed for this token", status: .forbidden, detail: error.description)
        case .gone:
            self.init("gone", title: "The connection was deleted", status: .gone, detail: error.description)
        case .duplicate(let existing, _):
            self.init("duplicate-target", title: "A connection to this target already exists", status: .conflict,
                      detail: error.description + "; change or re-register that one instead")
            existingConnectionId = existing.lowercasedString
        }
    }
}

extension Problem {
    /// 503: the store cannot read or write (disk full, read-only, damaged), so the request
    /// may succeed later but not now. The file's path stays in the server's log.
    init(_ unavailable: StoreUnavailable) {
        self.init("store-unavailable", title: "The store cannot \(unavailable.operation.rawValue)",
                  status: .serviceUnavailable,
                  detail: "the server's database cannot \(unavailable.operation.rawValue) now: \(unavailable.cause.rawValue); retry once an operator has fixed it (the server log says which database and what to do)")
    }
}

/// Turns every error a handler throws into a problem response, so no client ever sees a
/// bare-text error or a stack trace.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let kinds: KindCatalog
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return try problem.response()
        } catch let error as EngineError {
            return try Problem(error, kinds: kinds).response()
        } catch StoreError.duplicate(let id) {
            return try Problem("already-exists", title: "The connection already exists", status: .conflict,
                               detail: "connection \(id.lowercasedString) already exists; use PUT to change it").response()
        } catch let unavailable as StoreUnavailable {
            // The operator's problem, not the client's: the log has the file and SQLite's words.
            context.logger.error("store unavailable", metadata: ["error": "\(unavailable)", "path": "\(request.uri.path)"])
            var response = try Problem(unavailable).response()
            if !unavailable.isPermanent { response.headers[.retryAfter] = "30" }
            return response
        } catch is NIOTooManyBytesError {
            return try Problem("too-large", title: "The request body is too large", status: .contentTooLarge,
                               detail: "the request body is larger than \(JSONBody.maxRequestBytes) bytes").response()
        } catch let error as HTTPError {
            // The router's 404 for a path it knows under other methods only.
            let allowed = error.status == .notFound ? routes.methods(for: request.uri.path) : []
            if !allowed.isEmpty, !allowed.contains(request.method) {
                var response = try Problem(
                    "method-not-allowed", title: "Method not allowed", status: .methodNotAllowed,
                    detail: "\(request.uri.path) answers \(allowed.map(\.rawValue).joined(separator: ", ")), not \(request.method)"
                ).response()
                response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                return response
            }
            let problem: Problem = switch error.status {
            case .notFound: .notFound("no route for \(request.method) \(request.uri.path)")
            case .contentTooLarge: Problem("too-large", title: "The request body is too large", status: .contentTooLarge,
                                           detail: error.body ?? "the request body is larger than the server accepts")
            default: Problem("http-error", title: error.status.reasonPhrase, status: error.status,
                             detail: error.body ?? error.status.reasonPhrase)
            }
            return try problem.response()
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            let problem = Problem("internal-error", title: "Internal server error", status: .internalServerError,
                                  detail: "the server could not complete the request; the server log has the cause")
            return try problem.response()
        }
    }
}

/// The methods each route answers, so that a path the router knows, asked with a method it
/// does not answer, gets `405` with `Allow` instead of `404`. Filled once every route is
/// registered.
final class RouteTable: Sendable {
    private let routes = Mutex<[(path: RouterPath, method: HTTPRequest.Method)]>([])

    func record(_ routes: [(path: RouterPath, method: HTTPRequest.Method)]) {
        self.routes.withLock { $0 = routes }
    }

    /// The methods of the route `path` resolves to (as the router resolves it: a literal
    /// segment wins over a `{parameter}`), sorted; empty when no route matches.
    func methods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        let matching = routes.withLock { routes in
            routes.filter { route in
                route.path.components.count == segments.count
                    && zip(route.path.components, segments).allSatisfy { $0 ~= $1 }
            }
        }
        // Literal segments, position by position: the most specific path is the one served.
        func literals(_ path: RouterPath) -> [Bool] {
            zip(path.components, segments).map { $0 == $1 }
        }
        guard let best = matching.map({ literals($0.path) }).max(by: { $0.lexicographicallyPrecedes($1) { !$0 && $1 } })
        else { return [] }
        return matching.filter { literals($0.path) == best }.map(\.method).sorted { $0.rawValue < $1.rawValue }
    }
}
