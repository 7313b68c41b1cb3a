import Foundation
import Hummingbird

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

    func register(on router: Router<Context>) {
        for entry in Self.files {
            router.get(RouterPath(entry.route)) { _, _ in
                let bytes = try WebPageRoutes.load(entry.file)
                return Response(status: .ok, headers: [.contentType: entry.contentType, .cacheControl: "no-cache"],
                                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
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
