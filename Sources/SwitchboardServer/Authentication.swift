import Foundation
import HTTPTypes
import Hummingbird
import SwitchboardEngine

/// The signed-in principal of the request being handled, set by `AuthenticationMiddleware`
/// (or `NoSignInMiddleware` for a server run without sign-in). Outside a request it is
/// nobody: it owns nothing and sees nothing, so a path that skips the middleware fails
/// closed.
enum RequestPrincipal {
    /// Who signed in, and with which token (nil without sign-in): one task-local value a
    /// request, as every request sets it.
    struct SignIn: Sendable {
        var principal: Principal
        var token: String?
        var tokens: TokenService?
    }

    @TaskLocal static var signIn = SignIn(principal: .nobody, token: nil, tokens: nil)

    static var current: Principal { signIn.principal }

    /// Asks again whether the request's sign-in still stands: `nil` while it does, else why
    /// not. For answers that outlive the moment they were authorised (the change stream):
    /// a token revoked or expired meanwhile must end them.
    static func recheck(_ signIn: SignIn) async -> String? {
        guard let token = signIn.token, let tokens = signIn.tokens else {
            return signIn.principal == .nobody ? "nobody signed in" : nil
        }
        // A check that cannot be made ends the answer too: the client signs in again.
        guard let result = try? await tokens.authenticate(token) else { return "the token could not be checked" }
        if case .failure(let refusal) = result { return refusal.description }
        return nil
    }
}

/// For servers embedded without sign-in: every request acts as the anonymous admin.
struct NoSignInMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await RequestPrincipal.$signIn.withValue(.init(principal: .anonymousUser, token: nil, tokens: nil)) {
            try await next(request, context)
        }
    }
}

/// Paths answered without a token (a generic type cannot hold a stored static).
private let publicRequestPaths: Set<String> = [
    "/healthz", "/readyz", "/metrics", "/api/openapi.yaml", "/", "/index.html", "/app.js", "/app.css",
]

/// Every API route needs `Authorization: Bearer <token>`, except the probes of the process
/// itself, the metrics, the OpenAPI document and the web page's files (the page signs in).
struct AuthenticationMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: TokenService


    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !publicRequestPaths.contains(request.uri.path) else { return try await next(request, context) }
        guard let token = request.headers[.authorization].flatMap(Self.bearerToken) else {
            throw Self.unauthorized("send Authorization: Bearer <token> (switchboard token create makes one)")
        }
        switch try await tokens.authenticate(token) {
        case .success(let principal):
            return try await RequestPrincipal.$signIn.withValue(.init(principal: principal, token: token, tokens: tokens)) {
                try await next(request, context)
            }
        case .failure(let refusal):
            throw Self.unauthorized("\(refusal)")
        }
    }

    /// The token of an `Authorization: Bearer <token>` header (the scheme in any case,
    /// spaces around the token dropped); nil for any other header. Runs on every request,
    /// so it stays off Foundation's string bridging.
    static func bearerToken(_ header: String) -> String? {
        let scheme = "bearer "
        guard header.utf8.count > scheme.utf8.count,
              header.utf8.prefix(scheme.utf8.count).elementsEqual(scheme.utf8, by: { $0 == $1 || $0 == $1 - 32 && $1 >= UInt8(ascii: "a") })
        else { return nil }
        let token = header.utf8.dropFirst(scheme.utf8.count)
            .drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let end = token.lastIndex { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        return end.map { String(Substring(token[...$0])) } ?? ""
    }

    static func unauthorized(_ detail: String) -> Problem {
        Problem("unauthorized", title: "Authentication required", status: .unauthorized, detail: detail)
    }
}
