import ConnectionLifecycle
import Foundation
@testable import SwitchboardServer
import Testing

/// The hand-written JSON of connections and pages is the document JSONEncoder writes
/// (parsed, compared as values), for connections of every kind and shape: optional fields
/// present and absent, metadata of every JSON type, text that needs escaping.
struct JSONWriterTests {
    static func connections() -> [ConnectionResource] {
        let at = Date(timeIntervalSince1970: 1_764_115_200.123)
        var resources: [ConnectionResource] = []
        for (index, kind) in KindCatalog.builtIn.names.compactMap({ KindCatalog.builtIn[$0] }).enumerated() {
            let plain = Connection(name: "plain-\(kind.name)", url: nil, kind: kind.name, type: kind.type, subType: kind.subType,
                                   status: ConnectionStatus.allCases[index % ConnectionStatus.allCases.count],
                                   createdAt: at, updatedAt: at)
            resources.append(ConnectionResource(plain, kind: kind))
            let full = Connection(
                name: "quote \" backslash \\ tab \t newline \n bell \u{7} é 🚀", description: "line one\r\nline two",
                url: "https://example.test:8443/a/b?c=d&e=f", kind: kind.name, type: kind.type, subType: kind.subType,
                status: .deleted, credentialId: UUID(), owner: UUID(),
                metadata: ["number": .number(2), "fraction": .number(-0.125), "large": .number(1e21), "flag": .bool(false),
                           "nothing": .null, "list": .array([.string("a"), .number(3), .object(["z": .bool(true), "a": .null])]),
                           "nested": .object(["key with space": .string("\u{1F}control")])],
                fingerprint: "\(kind.name) https://example.test:8443", createdAt: at, updatedAt: at.addingTimeInterval(1.5),
                deletedAt: at.addingTimeInterval(2), version: 7)
            let health = HealthRecord(connectionId: full.id, state: .unreachable, checkedAt: at, latencyMilliseconds: 12.75,
                                      lastError: "connection \"refused\"", consecutiveSuccesses: 0, consecutiveFailures: 4)
            let environments = [
                ConnectionLifecycle.Environment(name: "prod \"east\"", description: "the first", owner: UUID(),
                                                metadata: ["team": .string("core")], createdAt: at, updatedAt: at),
                ConnectionLifecycle.Environment(name: "bare", createdAt: at, updatedAt: at.addingTimeInterval(0.25)),
            ]
            resources.append(ConnectionResource(full, kind: kind, health: health, environments: environments))
        }
        return resources
    }

    static func parsed(_ data: some Sequence<UInt8>) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(data)) as? NSDictionary)
    }

    @Test func aConnectionIsWhatTheEncoderWrites() throws {
        for resource in Self.connections() {
            var writer = JSONWriter()
            resource.write(to: &writer)
            #expect(try Self.parsed(writer.bytes) == Self.parsed(JSONBody.encoder.encode(resource)), "\(resource.name)")
        }
    }

    @Test func aPageIsWhatTheEncoderWrites() throws {
        for connections in [Self.connections(), []] {
            let page = ConnectionPageResource(connections: connections, totalCount: 120, page: 2, pageSize: 50,
                                              statusSummary: ["connected": 3, "not found": 0])
            var writer = JSONWriter()
            page.write(to: &writer)
            #expect(try Self.parsed(writer.bytes) == Self.parsed(JSONBody.encoder.encode(page)))
        }
    }

    @Test func aBulkAnswerIsWhatTheEncoderWrites() throws {
        let connections = Self.connections()
        let refused = Problem("illegal-transition", title: "Transition not allowed", status: .conflict,
                              detail: "connection is \"ignored\"; moves: registered")
        let results = [
            BulkTransitionResult(id: connections[0].id, ok: true, status: .connected, connection: connections[0]),
            BulkTransitionResult(id: connections[1].id, ok: true, status: .deleted, connection: connections[1]),
            BulkTransitionResult(id: UUID().uuidString.lowercased(), ok: false, status: .ignored, error: refused),
            BulkTransitionResult(id: UUID().uuidString.lowercased(), ok: false, status: nil, error: .notFound("no such connection")),
        ]
        for answer in [BulkTransitionResponse(results: results, succeeded: 2, failed: 2),
                       BulkTransitionResponse(results: [], succeeded: 0, failed: 0)] {
            var writer = JSONWriter()
            try answer.write(to: &writer)
            #expect(try Self.parsed(writer.bytes) == Self.parsed(JSONBody.encoder.encode(answer)))
        }
    }
}
