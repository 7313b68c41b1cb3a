import ConnectionLifecycle
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardTestSupport
import Testing

/// Transitions over HTTP: the design table, verification failures, concurrency and bulk.
@Suite struct ConnectionTransitionAPITests {
    /// Every (kind, from, to) a user can ask for over HTTP: allowed moves answer 200 with the
    /// right event, everything else 409 with the allowed list, leaving row and log untouched.
    @Test func everyUserTransitionFollowsTheDesignTable() async throws {
        try await ServerHarness.run { harness in
            for kind in KindCatalog.builtIn.names {
                for from in ConnectionStatus.allCases {
                    for to in ConnectionStatus.allCases {
                        let seeded = try await harness.seed(kind, from)
                        let context = "\(kind): \(from.wireName) → \(to.wireName)"
                        let correlation = UUID()
                        let response = try await harness.request(
                            .post, "/api/integrations/connections/\(seeded.id.uuidString.lowercased())/transitions",
                            json: try encode(["status": to.wireName, "reason": "walk"]),
                            headers: [.correlationId: correlation.uuidString])
                        if DesignTable.permits(kind: kind, from: from, to: to, actor: .user, lastChangedBy: .user) {
                            #expect(response.status == .ok, "\(context): \(String(buffer: response.body))")
                            let connection = try decode(ConnectionJSON.self, response)
                            #expect(connection.status == to.wireName, "\(context)")
                            let history = try await harness.history(seeded.id)
                            #expect(history.count == 2 && history.last?.from == from && history.last?.to == to, "\(context)")
                            #expect(history.last?.correlationId == correlation, "\(context)")
                            #expect(history.last?.reason == "walk" && history.last?.actorRole == .user, "\(context)")
                            let offered = connection.transitionMap[to.wireName]?.map(\.nextState) ?? []
                            let designed = ConnectionStatus.allCases.filter {
                                DesignTable.permits(kind: kind, from: to, to: $0, actor: .user, lastChangedBy: .user)
                            }.map(\.wireName)
                            #expect(Set(offered) == Set(designed), "transitionMap from \(to.wireName): \(context)")
                        } else {
                            let problem = try expectProblem(response, .conflict, context)
                            #expect(problem.type == "/problems/illegal-transition")
                            let designed = ConnectionStatus.allCases.filter {
                                DesignTable.permits(kind: kind, from: from, to: $0, actor: .user, lastChangedBy: .user)
                            }.map(\.wireName)
                            #expect(Set(problem.allowed ?? ["?"]) == Set(designed), "\(context)")
                            #expect(try await harness.store.connection(id: seeded.id) == seeded, "row untouched: \(context)")
                            #expect(try await harness.history(seeded.id).count == 1, "log untouched: \(context)")
                        }
                    }
                }
            }
        }
    }

    @Test func aFailedCheckAnswers422AndSaysWhereTheConnectionWent() async throws {
        try await ServerHarness.run { harness in
            let seeded = try await harness.seed("prometheus", .maintenance, url: harness.target.failingURL)
            let response = try await harness.request(
                .post, "/api/integrations/connections/\(seeded.id.uuidString.lowercased())/transitions",
                json: #"{"status": "connected"}"#)
            let problem = try expectProblem(response, .unprocessableContent)
            #expect(problem.type == "/problems/verification-failed")
            #expect(problem.connection?.status == "disconnected")
            #expect(problem.detail.contains("503"))
            #expect(try await harness.store.connection(id: seeded.id)?.status == .disconnected)
        }
    }

    /// Fifty conflicting transitions at once over real loopback HTTP: each gets a definite
    /// answer, and the log replays to the stored status through legal edges only.
    @Test func fiftyConcurrentConflictingTransitions() async throws {
        try await ServerHarness.run(.ahc(.http)) { harness in
            let created = try await harness.createConnection(name: "contended", kind: "kubernetes", status: "registered",
                                                             url: harness.target.flakyURL)
            var generator = SeededGenerator(seed: 42)
            let targets: [ConnectionStatus] = [.connected, .disconnected, .maintenance, .registered, .ignored,
                                               .discovered, .notFound, .connected, .maintenance, .ignored]
            let requests = (0..<50).map { _ in targets[Int(generator.next() % UInt64(targets.count))] }
            let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, UUID).self) { group in
                for target in requests {
                    group.addTask {
                        let correlation = UUID()
                        let response = try await harness.request(
                            .post, "/api/integrations/connections/\(created.id)/transitions",
                            json: try encode(["status": target.wireName]), headers: [.correlationId: correlation.uuidString])
                        return (response.status, correlation)
                    }
                }
                return try await group.reduce(into: [(HTTPResponse.Status, UUID)]()) { $0.append($1) }
            }
            let statuses = answers.map { $0.0.code }
            #expect(statuses.count == 50)
            #expect(statuses.allSatisfy { [200, 409, 422].contains($0) }, "\(statuses)")
            #expect(statuses.contains(200) && statuses.contains(409), "\(statuses)")

            let stored = try #require(try await harness.store.connection(id: created.uuid))
            let history = try await harness.history(created.uuid)
            #expect(LifecycleEvent.replay(history) == stored.status)
            for event in history.dropFirst() {
                guard let from = event.from else { Issue.record("a later event without a from"); continue }
                #expect(DesignTable.isLegalEvent(kind: "kubernetes", from: from, to: event.to, actor: event.actorRole),
                        "illegal edge in the log: \(from.wireName) → \(event.to.wireName)")
            }
            #expect(Int64(history.count) == stored.version, "one event per stored version")
            let logged = Set(history.map(\.correlationId))
            for (status, correlation) in answers where status.code == 200 {
                #expect(logged.contains(correlation), "a 200 whose change is not in the log")
            }
            for (status, correlation) in answers where status.code == 409 {
                #expect(!logged.contains(correlation), "a 409 whose change is in the log")
            }
        }
    }

    @Test func bulkTransitionsReportEachConnection() async throws {
        try await ServerHarness.run { harness in
            let a = try await harness.seed("helm", .registered)
            let b = try await harness.seed("helm", .connected)
            let c = try await harness.seed("grafana", .deleted)
            let missing = UUID()
            let ids = [a.id, b.id, c.id, missing].map { $0.uuidString.lowercased() }
            let response = try await harness.request(.post, "/api/integrations/connections/transitions",
                                                     json: try encode(BulkBody(ids: ids, status: "maintenance")))
            #expect(response.status == .ok)
            struct Result: Decodable { var id: String; var ok: Bool; var status: String?; var error: ProblemJSON? }
            struct Results: Decodable { var results: [Result]; var succeeded: Int; var failed: Int }
            let results = try decode(Results.self, response)
            #expect(results.results.map(\.id) == ids, "one result per id, in request order")
            #expect(results.results.map(\.ok) == [true, true, false, false])
            #expect(results.results[0].status == "maintenance" && results.results[1].status == "maintenance")
            #expect(results.results[2].error?.status == 409 && results.results[2].status == "deleted")
            #expect(results.results[3].error?.status == 404)
            #expect(results.succeeded == 2 && results.failed == 2)

            try expectProblem(try await harness.request(.post, "/api/integrations/connections/transitions",
                                                        json: try encode(BulkBody(ids: [], status: "ignored"))), .badRequest)
            try expectProblem(try await harness.request(.post, "/api/integrations/connections/transitions",
                                                        json: try encode(BulkBody(ids: [ids[0], ids[0]], status: "ignored"))),
                              .badRequest)
        }
    }

    struct BulkBody: Encodable {
        var ids: [String]
        var status: String
    }
}

/// A small deterministic generator, so a failing concurrency run can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension HTTPField.Name {
    static let correlationId = HTTPField.Name("X-Correlation-Id")!
}
