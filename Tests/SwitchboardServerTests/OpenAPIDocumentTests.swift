import Foundation
import Hummingbird
import Logging
import SwitchboardServer
import StoreContract
import SwitchboardTestSupport
import AsyncHTTPClient
import Testing
import Yams

/// The OpenAPI document parses and describes exactly the routes the router serves.
@Suite struct OpenAPIDocumentTests {
    @Test func documentAndRouterAgree() async throws {
        let document = try #require(try Yams.load(yaml: String(decoding: try OpenAPIDocument.bytes(), as: UTF8.self))
                                    as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: Any])
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        var documented: Set<String> = []
        for (path, item) in paths {
            let operations = try #require(item as? [String: Any])
            for (method, operation) in operations where methods.contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
                let responses = (operation as? [String: Any])?["responses"] as? [String: Any]
                #expect(responses?.isEmpty == false, "\(method) \(path) documents no responses")
            }
        }

        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let parts = SwitchboardApp.assemble(store: try TestStore.sqlite(folder.file("db.sqlite")), vault: nil,
                                            httpClient: client, configuration: ServerConfiguration(), logger: Logger(label: "t"))
        let served = Set(SwitchboardApp.router(parts).routes.map { "\($0.method) \($0.path)" })
        try await client.shutdown()

        #expect(served.count >= 11)
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
    }
}
