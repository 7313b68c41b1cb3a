import ConnectionLifecycle
import Foundation
import StoreContract
import SwitchboardStorage
import SwitchboardTestSupport
import Testing

/// With 100,000 connections in a real SQLite file, SQLite's own query plans show that the
/// list queries people run most (by status and kind, in name or update order) use indexes.
@Suite struct ListQueryPlanTests {
    static let connectionCount = 100_000

    @Test func listQueriesUseIndexesAtOneHundredThousandConnections() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let store = try SQLiteConnectionStore(path: folder.file("switchboard.sqlite"))
        let kinds = ["kubernetes", "prometheus", "grafana", "helm", "http"].compactMap { KindCatalog.builtIn[$0] }
        let statuses = ConnectionStatus.allCases
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        try await Seeding.many(in: store, count: Self.connectionCount) { index in
            let kind = kinds[index % kinds.count]
            let status = statuses[(index / kinds.count) % statuses.count]
            let at = start.addingTimeInterval(Double(index))
            return Connection(
                name: "conn-\(String(index * 7919 % Self.connectionCount))", url: "http://host-\(index).example:9090",
                kind: kind.name, type: kind.type, subType: kind.subType, status: status,
                createdAt: at, updatedAt: at, deletedAt: status == .deleted ? at : nil)
        }

        let queries: [(String, ConnectionQuery)] = [
            ("status, by name", ConnectionQuery(statuses: [.connected], order: .init(field: .name, descending: false))),
            ("status, by update", ConnectionQuery(statuses: [.connected], order: .init(field: .updatedAt, descending: true))),
            ("kind and status, by name", ConnectionQuery(kinds: ["prometheus"], statuses: [.registered],
                                                         order: .init(field: .name, descending: false))),
            ("kind and status, by update", ConnectionQuery(kinds: ["kubernetes"], statuses: [.connected],
                                                           order: .init(field: .updatedAt, descending: true))),
            ("kind only (live), by name", ConnectionQuery(kinds: ["grafana"], order: .init(field: .name, descending: false))),
            ("everything live, by update", ConnectionQuery(order: .init(field: .updatedAt, descending: true), page: 3)),
            ("two statuses, by name", ConnectionQuery(statuses: [.connected, .disconnected],
                                                      order: .init(field: .name, descending: true))),
            ("kind, status and search, by name", ConnectionQuery(kinds: ["helm"], statuses: [.maintenance], search: "conn-3",
                                                                 order: .init(field: .name, descending: false))),
            ("status and search, by update", ConnectionQuery(statuses: [.ignored], search: "host-1",
                                                             order: .init(field: .updatedAt, descending: true))),
        ]
        for (label, query) in queries {
            let (plan, summaryPlan) = try await store.queryPlan(for: query)
            // The counts read the index alone, never each candidate row.
            #expect(summaryPlan.contains { $0.contains("COVERING INDEX connections_by_") }, "\(label) summary: \(summaryPlan)")
            let fullScans = plan.filter { $0.hasPrefix("SCAN connections") && !$0.contains("INDEX") }
            #expect(plan.contains { $0.contains("INDEX connections_by_") }, "\(label) uses no index: \(plan)")
            #expect(fullScans.isEmpty, "\(label) scans the whole table: \(plan)")

            // And the answers are right: sorted as asked, and filtered.
            let listing = try await store.list(query)
            #expect(listing.connections.count == query.pageSize, "\(label)")
            let expectedStatuses = Set(query.statuses.isEmpty ? statuses.filter { $0 != .deleted } : query.statuses)
            #expect(listing.connections.allSatisfy { expectedStatuses.contains($0.status) }, "\(label)")
            #expect(query.kinds.isEmpty || listing.connections.allSatisfy { query.kinds.contains($0.kind) }, "\(label)")
            if let search = query.search {
                #expect(listing.connections.allSatisfy { $0.name.contains(search) || $0.url?.contains(search) == true }, "\(label)")
            }
            let keys: [String] = listing.connections.map {
                query.order.field == .name ? $0.name : String(format: "%015.3f", $0.updatedAt.timeIntervalSince1970)
            }
            let sorted: [String] = query.order.descending ? keys.sorted(by: >) : keys.sorted()
            #expect(keys == sorted, "\(label) order")
        }

        let summary = try await store.list(ConnectionQuery(kinds: ["helm"]))
        #expect(summary.totalCount == Self.connectionCount / kinds.count / statuses.count * (statuses.count - 1))
        #expect(summary.statusSummary[.deleted] == nil)
    }
}
