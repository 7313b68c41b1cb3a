import Foundation
import HTTPTypes
import Hummingbird

/// Sent with the page's files beside the content security policy (a generic type cannot hold
/// a stored static).
private let pageHeaders: HTTPFields = {
    var fields = HTTPFields()
    for (name, value) in [("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer")] {
        if let name = HTTPField.Name(name) { fields[name] = value }
    }
    return fields
}()

/// The Connections web page: three static files shipped in the module's resources. It
/// talks to the same API as every other client.
struct WebPageRoutes<Context: RequestContext>: Sendable {
    static var files: [(route: String, file: String, contentType: String)] {
        [
            ("/", "index.html", "text/html; charset=utf-8"),
            ("/app.js", "app.js", "text/javascript; charset=utf-8"),
            ("/app.css", "app.css", "text/css; charset=utf-8"),
        ]
    }

    /// The page loads only its own files and talks only to its own server: no inline script
    /// or style (app.js sets styles through the DOM, which the policy allows), no plugins,
    /// no framing (clickjacking), no guessing of content types (Hummingbird's middleware sets
    /// the policy and `nosniff`), and no address leaked in a Referer.
    static var contentSecurity: ContentSecurityMiddleware<Context> {
        ContentSecurityMiddleware(contentSecurityPolicy: [
            .defaultSrc(.none), .scriptSrc(.self), .styleSrc(.self), .imgSrc(.self), .connectSrc(.self),
            .baseURI(.none), .formAction(.none), .frameAncestors(.none),
        ])
    }

    func register(on router: Router<Context>) {
        let page = router.group().add(middleware: Self.contentSecurity)
        for entry in Self.files {
            page.get(RouterPath(entry.route)) { _, _ in
                let bytes = try WebPageRoutes.load(entry.file)
                var headers = pageHeaders
                headers[.contentType] = entry.contentType
                headers[.cacheControl] = "no-cache"
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
            }
        }
    }

    static func load(_ file: String) throws -> Data {
        guard let url = Bundle.module.url(forResource: file, withExtension: nil, subdirectory: "Resources/web") else {
            throw Problem("internal-error", title: "Internal server error", status: .internalServerError,
                          detail: "the web page file \(file) is missing from the server's resources")
        }
        return try Data(contentsOf: url)
    }
}
