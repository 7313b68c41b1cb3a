import ConnectionLifecycle
import Foundation
import Hummingbird
import HummingbirdTesting
import SwitchboardTestSupport
import Testing

/// Create, read, list, update, delete and history in Meshery's shapes.
@Suite struct ConnectionCRUDAPITests {
    @Test func createReadAndHistory() async throws {
        try await ServerHarness.run { harness in
            let response = try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "prod-prometheus", "kind": "prometheus", "type": "telemetry", "subType": "metrics",
                 "status": "discovered", "url": "\(harness.target.reachableURL)", "metadata": {"team": "sre"}}
                """)
            #expect(response.status == .created)
            let created = try decode(ConnectionJSON.self, response)
            #expect(response.headers[.location] == "/api/integrations/connections/\(created.id)")
            #expect(created.id == created.id.lowercased())
            #expect(created.schemaVersion == "connections.meshery.io/v1beta3")
            #expect(created.status == "discovered" && created.type == "telemetry" && created.subType == "metrics")
            #expect(created.deletedAt == nil && created.version == 1)
            #expect(created.transitionMap["discovered"]?.map(\.nextState) == ["registered", "ignored", "deleted"])

            let read = try decode(ConnectionJSON.self, try await harness.request(.get, "/api/integrations/connections/\(created.id)"))
            #expect(read.name == "prod-prometheus" && read.url == harness.target.reachableURL)

            try await harness.request(.post, "/api/integrations/connections/\(created.id)/transitions",
                                      json: #"{"status": "registered", "reason": "checked by hand"}"#)
            let events = try decode(EventPageJSON.self,
                                    try await harness.request(.get, "/api/integrations/connections/\(created.id)/events"))
            #expect(events.totalCount == 2)
            #expect(events.events.map(\.to) == ["registered", "discovered"], "newest first")
            #expect(events.events[0].from == "discovered" && events.events[0].reason == "checked by hand")
            #expect(events.events[1].from == nil && events.events[1].actorRole == "user")
        }
    }

    @Test func startingRegisteredWithAnUnreachableTargetStoresNotFound() async throws {
        try await ServerHarness.run { harness in
            let response = try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "gone", "kind": "grafana", "status": "registered", "url": "\(StandInHTTPServer.refusedURL)"}
                """)
            let problem = try expectProblem(response, .unprocessableContent)
            #expect(problem.type == "/problems/verification-failed")
            let stored = try #require(problem.connection)
            #expect(stored.status == "not found")
            #expect(problem.detail.contains("refused"))
            let read = try decode(ConnectionJSON.self, try await harness.request(.get, "/api/integrations/connections/\(stored.id)"))
            #expect(read.status == "not found")
        }
    }

    @Test func putGoesThroughTheLifecycle() async throws {
        try await ServerHarness.run { harness in
            let created = try await harness.createConnection(name: "edge", kind: "helm")
            let renamed = try await harness.request(.put, "/api/integrations/connections/\(created.id)",
                                                    json: #"{"name": "edge-charts", "status": "discovered"}"#)
            #expect(renamed.status == .ok)
            #expect(try decode(ConnectionJSON.self, renamed).name == "edge-charts")

            // Meshery would write `connected` blindly; here it is an illegal move and nothing changes.
            let illegal = try await harness.request(.put, "/api/integrations/connections/\(created.id)",
                                                    json: #"{"name": "sneaky", "status": "connected"}"#)
            let problem = try expectProblem(illegal, .conflict)
            #expect(problem.allowed == ["registered", "ignored", "deleted"])
            #expect(try await harness.store.connection(id: created.uuid)?.name == "edge-charts")

            let registered = try await harness.request(.put, "/api/integrations/connections/\(created.id)",
                                                       json: #"{"status": "registered"}"#)
            #expect(try decode(ConnectionJSON.self, registered).status == "registered")

            let kindChange = try await harness.request(.put, "/api/integrations/connections/\(created.id)",
                                                       json: #"{"kind": "grafana"}"#)
            #expect(try expectProblem(kindChange, .badRequest).field == "kind")
        }
    }

    @Test func oneTargetIsOneConnection() async throws {
        try await ServerHarness.run { harness in
            let url = "\(harness.target.reachableURL)/grafana"
            let first = try await harness.createConnection(name: "grafana", kind: "grafana", url: url)
            let spelledDifferently = url.replacingOccurrences(of: "http://127.0.0.1", with: "HTTP://127.0.0.1") + "/"
            let again = try await harness.request(.post, "/api/integrations/connections",
                                                  json: #"{"name": "copy", "kind": "grafana", "url": "\#(spelledDifferently)"}"#)
            let problem = try expectProblem(again, .conflict)
            #expect(problem.type == "/problems/duplicate-target")
            #expect(problem.existingConnectionId == first.id)
            // A PUT that would make a second connection point there is refused the same way.
            let other = try await harness.createConnection(name: "other", kind: "grafana")
            let retarget = try await harness.request(.put, "/api/integrations/connections/\(other.id)",
                                                     json: #"{"url": "\#(url)"}"#)
            #expect(try expectProblem(retarget, .conflict).existingConnectionId == first.id)
            let page = try decode(PageJSON.self, try await harness.request(.get, "/api/integrations/connections"))
            #expect(page.totalCount == 2)
            // Once deleted, the target may be added again.
            _ = try await harness.request(.delete, "/api/integrations/connections/\(first.id)")
            _ = try await harness.createConnection(name: "grafana again", kind: "grafana", url: url)
        }
    }

    @Test func deleteLeavesAHiddenTombstone() async throws {
        try await ServerHarness.run { harness in
            let keep = try await harness.createConnection(name: "keep")
            let drop = try await harness.createConnection(name: "drop")
            let deleted = try await harness.request(.delete, "/api/integrations/connections/\(drop.id)")
            #expect(deleted.status == .noContent)

            let page = try decode(PageJSON.self, try await harness.request(.get, "/api/integrations/connections"))
            #expect(page.connections.map(\.id) == [keep.id])
            #expect(page.statusSummary == ["discovered": 1])

            let tombstones = try decode(PageJSON.self,
                                        try await harness.request(.get, "/api/integrations/connections?status=deleted"))
            #expect(tombstones.connections.map(\.id) == [drop.id])
            #expect(tombstones.connections.first?.deletedAt != nil)

            try expectProblem(try await harness.request(.delete, "/api/integrations/connections/\(drop.id)"), .conflict,
                              "deleted is terminal")
            try expectProblem(try await harness.request(.get, "/api/integrations/connections/\(UUID().uuidString)"), .notFound)
        }
    }

    @Test func listFiltersOrdersAndSummarises() async throws {
        try await ServerHarness.run { harness in
            for (name, kind, status) in [("a-prom", "prometheus", ConnectionStatus.connected),
                                         ("b-prom", "prometheus", .ignored), ("c-k8s", "kubernetes", .connected),
                                         ("d-helm", "helm", .notFound), ("e-graf", "grafana", .maintenance)] {
                try await Seeding.connection(in: harness.store, kind: try #require(KindCatalog.builtIn[kind]),
                                             status: status, name: name, url: "http://\(name).example")
            }
            func page(_ query: String) async throws -> PageJSON {
                try decode(PageJSON.self, try await harness.request(.get, "/api/integrations/connections?\(query)"))
            }
            let byName = try await page("order=name%20desc&pageSize=2")
            #expect(byName.connections.map(\.name) == ["e-graf", "d-helm"])
            #expect(byName.totalCount == 5 && byName.pageSize == 2 && byName.page == 0)

            let connectedProm = try await page("kind=prometheus&status=connected")
            #expect(connectedProm.connections.map(\.name) == ["a-prom"])
            #expect(connectedProm.statusSummary == ["connected": 1])

            let telemetry = try await page("type=telemetry")
            #expect(telemetry.statusSummary == ["connected": 1, "ignored": 1, "maintenance": 1], "summary honours filters")

            let notFound = try await page("status=not%20found&status=maintenance&order=name")
            #expect(notFound.connections.map(\.name) == ["d-helm", "e-graf"])

            let search = try await page("search=k8s.example")
            #expect(search.connections.map(\.name) == ["c-k8s"])

            let partial = try await page("name=PROM&order=name%20asc")
            #expect(partial.connections.map(\.name) == ["a-prom", "b-prom"])

            let second = try await page("order=name%20asc&page=2&pageSize=2")
            #expect(second.connections.map(\.name) == ["e-graf"] && second.page == 2)
        }
    }

    @Test func healthAndReadiness() async throws {
        try await ServerHarness.run { harness in
            #expect(try await harness.request(.get, "/healthz").status == .ok)
            #expect(try await harness.request(.get, "/readyz").status == .ok)
            let unknown = try await harness.request(.get, "/api/nothing-here")
            #expect(try expectProblem(unknown, .notFound).detail.contains("/api/nothing-here"))
        }
    }
}

/// The page's files are served with the right types (its behaviour is tested in a browser
/// by the web page's own suite).
@Suite struct WebPageServingTests {
    @Test func pageScriptAndStylesAreServed() async throws {
        try await ServerHarness.run { harness in
            let page = try await harness.request(.get, "/")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            let html = String(buffer: page.body)
            #expect(html.contains("<title>Switchboard") && html.contains("/app.js") && html.contains("/app.css"))
            let script = try await harness.request(.get, "/app.js")
            #expect(script.headers[.contentType]?.hasPrefix("text/javascript") == true)
            #expect(String(buffer: script.body).contains("/api/integrations/connections"))
            let styles = try await harness.request(.get, "/app.css")
            #expect(styles.headers[.contentType]?.hasPrefix("text/css") == true)
        }
    }
}
