import ConnectionLifecycle
import Foundation
import StoreContract
import GRDB
import SwitchboardStorage
import SwitchboardTestSupport
import Testing

/// The SQLite store on a real database file in a temporary folder.
@Suite struct SQLiteConnectionStoreTests {
    let folder: TemporaryDirectory
    let store: SQLiteConnectionStore
    let prometheus = KindCatalog.builtIn["prometheus"]!
    let kubernetes = KindCatalog.builtIn["kubernetes"]!

    init() throws {
        folder = try TemporaryDirectory()
        store = try SQLiteConnectionStore(path: folder.file("switchboard.sqlite"))
    }

    private func event(_ connection: Connection, from: ConnectionStatus?, to: ConnectionStatus) -> LifecycleEvent {
        LifecycleEvent(connectionId: connection.id, from: from, to: to, actor: "alice", actorRole: .user,
                       reason: "test", correlationId: UUID(), at: Date().truncatedToMilliseconds)
    }

    @Test func insertedConnectionReadsBackIdentical() async throws {
        let now = Date().truncatedToMilliseconds
        let connection = Connection(
            name: "prom", description: "metrics", url: "http://prom:9090", kind: "prometheus", type: "telemetry",
            subType: "metrics", status: .discovered, credentialId: UUID(), owner: UUID(),
            metadata: ["team": .string("sre"), "replicas": .number(2), "tags": .array([.bool(true), .null])],
            createdAt: now, updatedAt: now)
        try await store.insert(connection, event: event(connection, from: nil, to: .discovered))
        let read = try await store.connection(id: connection.id)
        #expect(read == connection)
        await #expect(throws: StoreError.duplicate(connection.id)) {
            try await store.insert(connection, event: event(connection, from: nil, to: .discovered))
        }
    }

    @Test func updateIsACompareAndSetThatAppendsItsEvent() async throws {
        let seeded = try await Seeding.connection(in: store, kind: prometheus, status: .discovered)
        var next = seeded
        next.status = .registered
        let stored = try await store.update(next, expectedVersion: seeded.version,
                                            event: event(seeded, from: .discovered, to: .registered))
        #expect(stored.version == seeded.version + 1)
        #expect(try await store.connection(id: seeded.id)?.status == .registered)

        // A writer that read version 1 loses: nothing it wrote is stored, no event appended.
        var stale = seeded
        stale.status = .ignored
        await #expect(throws: StoreError.versionConflict(seeded.id, expected: seeded.version)) {
            try await store.update(stale, expectedVersion: seeded.version,
                                   event: event(seeded, from: .discovered, to: .ignored))
        }
        #expect(try await store.connection(id: seeded.id)?.status == .registered)
        let history = try await Seeding.history(of: seeded.id, in: store)
        #expect(history.map(\.to) == [.discovered, .registered])
        #expect(LifecycleEvent.replay(history) == .registered)

        let missing = UUID()
        var ghost = seeded
        ghost.id = missing
        await #expect(throws: StoreError.notFound(missing)) {
            try await store.update(ghost, expectedVersion: 1, event: nil)
        }
    }

    @Test func eventsComeNewestFirstInPages() async throws {
        let seeded = try await Seeding.connection(in: store, kind: prometheus, status: .discovered)
        var current = seeded
        let path: [ConnectionStatus] = [.registered, .connected, .disconnected, .connected, .maintenance]
        for status in path {
            var next = current
            next.status = status
            current = try await store.update(next, expectedVersion: current.version,
                                             event: event(current, from: current.status, to: status))
        }
        let first = try await store.events(connectionId: seeded.id, page: 0, pageSize: 4)
        #expect(first.totalCount == 6)
        #expect(first.events.map(\.to) == [.maintenance, .connected, .disconnected, .connected])
        #expect(first.events.map(\.sequence) == first.events.map(\.sequence).sorted(by: >))
        let second = try await store.events(connectionId: seeded.id, page: 1, pageSize: 4)
        #expect(second.events.map(\.to) == [.registered, .discovered])
        #expect(second.events.last?.from == nil)
    }

    @Test func listFiltersSortsAndPagesWithASummaryThatHonoursFilters() async throws {
        let plan: [(String, ConnectionKind, ConnectionStatus, String?)] = [
            ("alpha", prometheus, .connected, "http://alpha.example:9090"),
            ("beta", prometheus, .discovered, "http://beta.example:9090"),
            ("gamma", kubernetes, .connected, "https://gamma.example:6443"),
            ("delta", kubernetes, .ignored, "https://delta.example:6443"),
            ("epsilon", prometheus, .deleted, "http://epsilon.example:9090"),
            ("zeta_50%", prometheus, .notFound, "http://zeta.example:9090"),
        ]
        for (name, kind, status, url) in plan {
            try await Seeding.connection(in: store, kind: kind, status: status, name: name, url: url)
        }

        let all = try await store.list(ConnectionQuery(order: ConnectionOrder(field: .name, descending: false)))
        #expect(all.connections.map(\.name) == ["alpha", "beta", "delta", "gamma", "zeta_50%"], "tombstones hidden")
        #expect(all.totalCount == 5)
        #expect(all.statusSummary == [.connected: 2, .discovered: 1, .ignored: 1, .notFound: 1])

        let prom = try await store.list(ConnectionQuery(kinds: ["prometheus"]))
        #expect(prom.totalCount == 3)
        #expect(prom.statusSummary == [.connected: 1, .discovered: 1, .notFound: 1])

        let deleted = try await store.list(ConnectionQuery(statuses: [.deleted]))
        #expect(deleted.connections.map(\.name) == ["epsilon"])
        #expect(deleted.connections.first?.deletedAt != nil)

        let connectedOrIgnored = try await store.list(ConnectionQuery(statuses: [.connected, .ignored],
                                                                      order: ConnectionOrder(parsing: "name desc")!))
        #expect(connectedOrIgnored.connections.map(\.name) == ["gamma", "delta", "alpha"])

        let byType = try await store.list(ConnectionQuery(types: ["platform"]))
        #expect(Set(byType.connections.map(\.name)) == ["gamma", "delta"])

        let byName = try await store.list(ConnectionQuery(name: "ET"))
        #expect(Set(byName.connections.map(\.name)) == ["beta", "zeta_50%"], "partial and case-insensitive")
        let tombstoneOnly = try await store.list(ConnectionQuery(name: "psilon"))
        #expect(tombstoneOnly.connections.isEmpty && tombstoneOnly.totalCount == 0, "tombstones hidden")

        let literalWildcards = try await store.list(ConnectionQuery(name: "_50%"))
        #expect(literalWildcards.connections.map(\.name) == ["zeta_50%"], "% and _ match literally")

        let byURL = try await store.list(ConnectionQuery(search: "6443"))
        #expect(Set(byURL.connections.map(\.name)) == ["gamma", "delta"])

        let page0 = try await store.list(ConnectionQuery(order: ConnectionOrder(parsing: "name asc")!, page: 0, pageSize: 2))
        let page1 = try await store.list(ConnectionQuery(order: ConnectionOrder(parsing: "name asc")!, page: 1, pageSize: 2))
        let page2 = try await store.list(ConnectionQuery(order: ConnectionOrder(parsing: "name asc")!, page: 2, pageSize: 2))
        #expect(page0.connections.map(\.name) == ["alpha", "beta"])
        #expect(page1.connections.map(\.name) == ["delta", "gamma"])
        #expect(page2.connections.map(\.name) == ["zeta_50%"])
        #expect(page2.totalCount == 5)
    }

    @Test func orderSpellings() {
        #expect(ConnectionOrder(parsing: "updated_at desc") == ConnectionOrder(field: .updatedAt, descending: true))
        #expect(ConnectionOrder(parsing: "name") == ConnectionOrder(field: .name, descending: false))
        #expect(ConnectionOrder(parsing: "name sideways") == nil)
        #expect(ConnectionOrder(parsing: "password asc") == nil)
        #expect(ConnectionOrder(parsing: "name asc; drop table") == nil)
    }

    @Test func theDatabaseRefusesToRewriteHistory() async throws {
        // The event log is append-only even for code that bypasses the store's API.
        let seeded = try await Seeding.connection(in: store, kind: prometheus, status: .discovered)
        let raw = try DatabaseInspector(path: folder.file("switchboard.sqlite"))
        #expect(throws: (any Error).self) { try raw.execute("UPDATE events SET to_status = 'connected'") }
        #expect(throws: (any Error).self) { try raw.execute("DELETE FROM events") }
        #expect(try await Seeding.history(of: seeded.id, in: store).count == 1)
    }

    @Test func healthBatchesStoreEachRecordAndNeverGoBackInTime() async throws {
        let one = try await Seeding.connection(in: store, kind: prometheus, status: .connected)
        let two = try await Seeding.connection(in: store, kind: prometheus, status: .connected)
        let earlier = Date(timeIntervalSince1970: 1_800_000_000)
        let later = earlier.addingTimeInterval(15)
        let newer = HealthRecord(connectionId: one.id).recording(.unreachable, error: "refused", latencyMilliseconds: 3, at: later)
        let older = HealthRecord(connectionId: one.id).recording(.reachable, error: nil, latencyMilliseconds: 2, at: earlier)
        let other = HealthRecord(connectionId: two.id).recording(.reachable, error: nil, latencyMilliseconds: 1, at: earlier)
        try await store.saveHealth([newer, other])
        // A batch that lands late (written after a newer record) changes nothing.
        try await store.saveHealth([older])
        let read = try await store.health(of: [one.id, two.id])
        #expect(read[one.id] == newer)
        #expect(read[two.id] == other)
    }

    /// A deletion looks for the deleted connection's children: by index, not by reading
    /// every row's metadata.
    @Test func childrenAreFoundByIndex() async throws {
        let parent = try await Seeding.connection(in: store, kind: kubernetes, status: .connected)
        let child = try await Seeding.connection(in: store, kind: prometheus, status: .discovered,
                                                 parent: parent.id)
        _ = try await Seeding.connection(in: store, kind: prometheus, status: .discovered)
        #expect(try await store.children(of: parent.id).map(\.id) == [child.id])
        let plan = try await DatabaseQueue(path: folder.file("switchboard.sqlite")).read { db in
            try Row.fetchAll(db, sql: """
                EXPLAIN QUERY PLAN SELECT * FROM connections WHERE parent_id = ? AND status <> 'deleted'
                """, arguments: [parent.id.lowercasedString]).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("USING INDEX connections_by_parent") }, "\(plan)")
    }

    /// Details are remembered between reads; every committed change to the row, its health
    /// or its environments is seen by the next read, and so is a change racing the reads.
    @Test func rememberedDetailsNeverOutliveAChange() async throws {
        let seeded = try await Seeding.connection(in: store, kind: prometheus, status: .connected)
        #expect(try await store.connectionDetails(id: seeded.id)?.connection == seeded)
        #expect(try await store.connectionDetails(id: seeded.id)?.connection == seeded)

        var next = seeded
        next.status = .maintenance
        let moved = try await store.update(next, expectedVersion: seeded.version,
                                           event: event(seeded, from: .connected, to: .maintenance))
        #expect(try await store.connectionDetails(id: seeded.id)?.connection == moved)

        let checked = HealthRecord(connectionId: seeded.id).recording(.reachable, error: nil, latencyMilliseconds: 2, at: Date().truncatedToMilliseconds)
        try await store.saveHealth([checked])
        #expect(try await store.connectionDetails(id: seeded.id)?.health == checked)

        let at = Date().truncatedToMilliseconds
        let environment = Environment(name: "prod", createdAt: at, updatedAt: at)
        func audit(_ action: AuditEvent.Action) -> AuditEvent {
            AuditEvent(subjectType: "environment", subjectId: environment.id, action: action, actor: "alice",
                       actorRole: .user, detail: nil, correlationId: UUID(), at: at)
        }
        try await store.insertEnvironment(environment, members: [], audit: audit(.created))
        _ = try await store.addMember(seeded.id, to: environment.id, audit: audit(.updated))
        #expect(try await store.connectionDetails(id: seeded.id)?.environments == [environment])
        // The details show the environment's name: renaming it is a change to them too.
        var renamed = environment
        renamed.name = "production"
        renamed.updatedAt = at.addingTimeInterval(1)
        try await store.updateEnvironment(renamed, expectedUpdatedAt: environment.updatedAt, audit: audit(.updated))
        #expect(try await store.connectionDetails(id: seeded.id)?.environments == [renamed])
        // Membership also goes when its environment does (a foreign key cascade).
        try await store.deleteEnvironment(id: environment.id, audit: audit(.deleted))
        #expect(try await store.connectionDetails(id: seeded.id)?.environments == [])

        // Readers racing a writer: once the writes are done, a read answers the last one.
        var current = moved
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for _ in 0..<300 { _ = try await store.connectionDetails(id: seeded.id) }
            }
            group.addTask {
                for _ in 0..<300 { _ = try await store.connectionDetails(id: seeded.id) }
            }
            for index in 0..<100 {
                var change = current
                change.description = "change \(index)"
                current = try await store.update(change, expectedVersion: current.version, event: nil)
            }
            try await group.waitForAll()
        }
        #expect(try await store.connectionDetails(id: seeded.id)?.connection == current)
        #expect(try await store.connectionDetails(id: seeded.id)?.connection.description == "change 99")
    }
}

/// Raw access to a store's SQLite file, bypassing the store: what a curious operator or a
/// buggy tool could do.
struct DatabaseInspector {
    let queue: DatabaseQueue

    init(path: String) throws {
        queue = try DatabaseQueue(path: path)
    }

    func execute(_ sql: String) throws {
        try queue.write { try $0.execute(sql: sql) }
    }
}
