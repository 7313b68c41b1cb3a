import Foundation
import Hummingbird
import SwitchboardEngine

/// Liveness, readiness and the API's own description.
struct SystemRoutes<Context: RequestContext>: Sendable {
    let engine: ConnectionEngine

    func register(on router: Router<Context>) {
        router.get("healthz") { _, _ in
            try JSONBody.response(["status": "ok"])
        }
        router.get("readyz") { _, _ in
            do {
                try await engine.store.checkReadiness()
            } catch {
                throw Problem("not-ready", title: "The store is not answering", status: .serviceUnavailable,
                              detail: "the connection store did not answer: \(error)")
            }
            return try JSONBody.response(["status": "ready"])
        }
        router.get("api/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: try OpenAPIDocument.bytes())))
        }
    }
}

/// The OpenAPI 3.1 document shipped in the module's resources.
public enum OpenAPIDocument {
    public static func bytes() throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml", subdirectory: "Resources") else {
            throw Problem("internal-error", title: "Internal server error", status: .internalServerError,
                          detail: "the OpenAPI document is missing from the server's resources")
        }
        return try Data(contentsOf: url)
    }
}
