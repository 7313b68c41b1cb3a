import ConnectionLifecycle
import Foundation
import Logging
import PostgresNIO
import StoreBackends
import StoreContract
import Synchronization
@testable import SwitchboardPostgres
import SwitchboardTestSupport
import Testing

/// The store contract (`StoreConformance`) on PostgreSQL, each check on a new database; then
/// what only PostgreSQL needs: the event log read in commit order, concurrent migrations,
/// and an unreachable server answering `StoreUnavailable` within the wait. Under CI a missing
/// PostgreSQL fails these tests (`PostgresTestDatabase`), it does not skip them.
@Suite struct PostgresConformanceTests {
    @Test(.enabled(if: PostgresTestDatabase.shouldRun), .timeLimit(.minutes(3)), arguments: StoreConformance.checks)
    func postgres(_ check: StoreConformance.Check) async throws {
        try await PostgresTestDatabase.with { database in
            let store = try PostgresConnectionStore(url: database.url)
            do {
                try await check.run(store)
            } catch {
                try? await store.close()
                throw error
            }
            try await store.close()
        }
    }

    /// One transaction takes an event id and stays open while another writer appends a later
    /// event: the reader must not see the later one first (it would resume after it and never
    /// see the earlier). With the ids serialized, the later writer waits for the earlier
    /// commit; the reader sees nothing new meanwhile, then both, in order, exactly once.
    @Test(.enabled(if: PostgresTestDatabase.shouldRun), .timeLimit(.minutes(2)))
    func aReaderNeverSkipsAnEventThatCommitsLate() async throws {
        try await PostgresTestDatabase.with { database in
            let store = try PostgresConnectionStore(url: database.url)
            let early = Self.connection("early"), late = Self.connection("late")
            try await store.insert(contentsOf: [(early, Self.created(early)), (late, Self.created(late))])
            let position = try await store.latestEventSequence()
            try await withPostgresClient(database.clientConfiguration) { raw in
                try await raw.withConnection { held in
                    // The earlier writer: takes its id the way the store does, and stays open.
                    _ = try await held.query("BEGIN", logger: Self.logger)
                    let earlyIds = try await PostgresEventLog.append([Self.moved(early, to: .connected)], on: held)
                    try #require(earlyIds.count == 1 && earlyIds[0] > position)

                    // The later writer, through the store.
                    var next = late
                    next.status = .connected
                    let writing = Task { try await store.update(next, expectedVersion: 1, event: Self.moved(late, to: .connected)) }
                    try await Task.sleep(for: .milliseconds(500))
                    let during = try await store.eventLog(EventLogQuery(after: position))
                    #expect(during.isEmpty, "nothing after \(position) while the earlier id is uncommitted: \(during.map(\.sequence))")
                    #expect(try await store.latestEventSequence() == position, "the latest sequence does not run ahead either")
                    #expect(try await store.connection(id: late.id)?.version == 1, "the later writer waits for the earlier commit")

                    _ = try await held.query("COMMIT", logger: Self.logger)
                    _ = try await writing.value
                    let resumed = try await store.eventLog(EventLogQuery(after: position))
                    #expect(resumed.map(\.connectionId) == [early.id, late.id], "both, the earlier first")
                    #expect(resumed.first?.sequence == earlyIds[0])
                    #expect(zip(resumed, resumed.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
                    let last = resumed.last?.sequence ?? position
                    #expect(try await store.eventLog(EventLogQuery(after: last)).isEmpty, "exactly once")
                    #expect(try await store.latestEventSequence() == last)
                }
            }
            try await store.close()
        }
    }

    /// Many writers at once while a reader follows the log from its last position: the
    /// reader ends with every event, each once, in rising order.
    @Test(.enabled(if: PostgresTestDatabase.shouldRun), .timeLimit(.minutes(2)))
    func aFollowingReaderGetsEveryEventOnceUnderConcurrentWriters() async throws {
        try await PostgresTestDatabase.with { database in
            let store = try PostgresConnectionStore(url: database.url)
            let rows = (0..<8).map { Self.connection("row \($0)") }
            try await store.insert(contentsOf: rows.map { ($0, Self.created($0)) })
            let done = Flag()
            let writers = Task {
                defer { done.set() }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for row in rows {
                        group.addTask {
                            var current = row
                            for round in 0..<25 {
                                var next = current
                                next.status = round.isMultiple(of: 2) ? .connected : .disconnected
                                current = try await store.update(next, expectedVersion: current.version,
                                                                 event: Self.moved(current, to: next.status))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            var seen: [Int64] = []
            var position: Int64 = 0
            func follow() async throws {
                let batch = try await store.eventLog(EventLogQuery(after: position, limit: 7))
                seen += batch.map(\.sequence)
                position = batch.last?.sequence ?? position
            }
            while !done.isSet { try await follow() }
            try await writers.value
            while true {
                let before = seen.count
                try await follow()
                if seen.count == before { break }
            }
            let all = try await store.eventLog(EventLogQuery(after: 0, limit: 10_000)).map(\.sequence)
            #expect(all.count == 8 + 8 * 25)
            #expect(seen == all, "the follower saw every event once, in order (\(seen.count) of \(all.count))")
            try await store.close()
        }
    }

    /// Two stores starting on one empty database at once: one migrates, the other waits for
    /// the advisory lock and finds nothing left to do.
    @Test(.enabled(if: PostgresTestDatabase.shouldRun), .timeLimit(.minutes(2)))
    func concurrentStartsMigrateOnce() async throws {
        try await PostgresTestDatabase.with { database in
            let first = try PostgresConnectionStore(url: database.url)
            let second = try PostgresConnectionStore(url: database.url)
            async let a: Void = first.prepare()
            async let b: Void = second.prepare()
            _ = try await (a, b)
            try await first.checkReadiness()
            try await withPostgresClient(database.clientConfiguration) { raw in
                var versions: [Int32] = []
                for try await version in try await raw.query("SELECT version FROM schema_migrations ORDER BY version").decode(Int32.self) {
                    versions.append(version)
                }
                #expect(versions == PostgresMigrations.all.map { Int32($0.version) }, "each migration recorded once: \(versions)")
            }
            try await first.close()
            try await second.close()
        }
    }

    /// Nothing listens: reads and readiness answer StoreUnavailable (a 503), not a hang.
    /// A replica whose process ended (here: its store closed, which drops its connections as a
    /// SIGKILL does) is gone once its heartbeat is older than `endedAfter`, long before its
    /// TTL; one whose process is still there stays a member though it is as quiet; and while
    /// the caller itself has not been beating (a database outage silences everyone) only the
    /// TTL counts.
    @Test(.enabled(if: PostgresTestDatabase.shouldRun), .timeLimit(.minutes(2)))
    func aReplicaWhoseProcessEndedIsGoneBeforeItsTTL() async throws {
        try await PostgresTestDatabase.with { database in
            let survivor = try PostgresConnectionStore(url: database.url)
            let ending = try PostgresConnectionStore(url: database.url)
            func beat(_ store: PostgresConnectionStore, _ id: String) async throws -> ReplicaHeartbeat {
                try await store.heartbeat(id, startedAt: Date(), ownedConnections: 0, address: nil,
                                          ttl: .seconds(60), endedAfter: .milliseconds(500))
            }
            _ = try await beat(ending, "b")
            for _ in 0..<5 {
                _ = try await beat(survivor, "a")
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(try await beat(survivor, "a").members.map(\.id) == ["a", "b"],
                    "b has been quiet for a second, but its process holds its lock")

            try await ending.close()
            try await Task.sleep(for: .milliseconds(700))
            #expect(try await beat(survivor, "a").members.map(\.id) == ["a", "b"],
                    "a caller quiet itself for longer than endedAfter counts the TTL only")
            #expect(try await beat(survivor, "a").members.map(\.id) == ["a"],
                    "b's process ended: gone at the next heartbeat, 59 s before its TTL")

            let restarted = try PostgresConnectionStore(url: database.url)
            let again = try await beat(restarted, "b")
            #expect(!again.wasMember, "a replica started again under b's id was not a member the others kept")
            #expect(try await beat(survivor, "a").members.map(\.id) == ["a", "b"], "and is one from its first heartbeat")
            try await restarted.close()
            try await survivor.close()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anUnreachableServerIsUnavailableWithinTheWait() async throws {
        let port = try freeLoopbackPort()
        let store = try PostgresConnectionStore(url: "postgres://nobody:secret@127.0.0.1:\(port)/none?connect_timeout=1")
        let started = ContinuousClock.now
        do {
            try await store.checkReadiness()
            Issue.record("readiness passed with no server")
        } catch let error as StoreUnavailable {
            #expect(error.cause == .unreachable)
            #expect(!error.description.contains("secret"), "the password stays out of the message: \(error)")
        }
        await #expect(throws: StoreUnavailable.self) { _ = try await store.connection(id: UUID()) }
        #expect(ContinuousClock.now - started < .seconds(10))
        try await store.close()
    }

    /// The server stops under a running store: reads, writes and readiness answer
    /// StoreUnavailable (503) within the wait; once it is back the same store answers again,
    /// without a restart, and the row written before the outage is there.
    @Test(.enabled(if: ExternalServer.shouldRun(needing: "\(PostgresCluster.binaries)/initdb")), .timeLimit(.minutes(3)))
    func anOutageIsUnavailableAndTheStoreRecoversByItself() async throws {
        try await PostgresCluster.with { cluster in
            let store = try PostgresConnectionStore(url: cluster.url + "?connect_timeout=2")
            let survivor = Self.connection("survivor")
            try await store.insert(survivor, event: Self.created(survivor))
            try await cluster.stop()
            let started = ContinuousClock.now
            do {
                _ = try await store.connection(id: survivor.id)
                Issue.record("a read answered with the server stopped")
            } catch let error as StoreUnavailable {
                #expect(error.cause == .unreachable && error.operation == .read, "\(error)")
            }
            let other = Self.connection("during the outage")
            await #expect(throws: StoreUnavailable.self) { try await store.insert(other, event: Self.created(other)) }
            await #expect(throws: StoreUnavailable.self) { try await store.checkReadiness() }
            #expect(ContinuousClock.now - started < .seconds(20), "bounded waits, not a hang")

            try await cluster.start()
            var recovered: Connection?
            for _ in 0..<100 where recovered == nil {
                recovered = try? await store.connection(id: survivor.id)
                if recovered == nil { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(recovered == survivor, "the store answers again by itself, with what was written before")
            try await store.checkReadiness()
            try await store.close()
        }
    }

    /// The backend factory opens a PostgreSQL location for serving: migrated, ready, and its
    /// close ends the client (the store refuses work after).
    @Test(.enabled(if: PostgresTestDatabase.shouldRun), .timeLimit(.minutes(2)))
    func theFactoryOpensPostgresForServing() async throws {
        try await PostgresTestDatabase.with { database in
            let opened = try await StoreBackends.openForServing(.postgres(url: database.url), logger: Self.logger)
            try await opened.store.checkReadiness()
            let id = try await opened.store.serverIdentity()
            #expect(!opened.location.description.contains(database.url), "the location hides the password: \(opened.location)")
            try await opened.close()
            await #expect(throws: StoreUnavailable.self) { _ = try await opened.store.serverIdentity() }
            let again = try StoreBackends.open(.postgres(url: database.url))
            #expect(try await again.serverIdentity() == id, "the same id from the same database")
            try await again.close()
        }
    }

    @Test func urlsAreReadAsLibpqReadsThem() throws {
        let local = try PostgresStoreURL("postgres://sb:pw@127.0.0.1:5433/switchboard")
        #expect(local.host == "127.0.0.1" && local.port == 5433 && local.username == "sb" && local.password == "pw")
        #expect(local.database == "switchboard" && local.sslMode == .disable)
        #expect(local.description == "postgres://sb@127.0.0.1:5433/switchboard?sslmode=disable")
        let remote = try PostgresStoreURL("postgresql://sb@db.example/sb?sslmode=verify-full&connect_timeout=3")
        #expect(remote.port == 5432 && remote.sslMode == .verifyFull && remote.connectTimeout == .seconds(3))
        #expect(try PostgresStoreURL("postgres://sb@db.example/sb").sslMode == .prefer, "libpq's default off loopback")
        #expect(throws: PostgresStoreURLError.self) { try PostgresStoreURL("postgres://sb:pw@h/db?sslmode=sometimes") }
        #expect(throws: PostgresStoreURLError.self) { try PostgresStoreURL("mysql://sb:pw@h/db") }
        do {
            _ = try PostgresStoreURL("postgres://sb:hunter2@h/db?bogus=1")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    // MARK: Values

    static let logger = Logger(label: "test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    static let epoch = Date(timeIntervalSince1970: 1_800_000_000)

    static func connection(_ name: String) -> Connection {
        Connection(name: name, kind: "http", type: "component", subType: "test", status: .registered,
                   createdAt: epoch, updatedAt: epoch)
    }

    static func created(_ connection: Connection) -> LifecycleEvent {
        LifecycleEvent(connectionId: connection.id, from: nil, to: connection.status, actor: "test", actorRole: .user,
                       reason: "created", correlationId: UUID(), at: epoch)
    }

    static func moved(_ connection: Connection, to status: ConnectionStatus) -> LifecycleEvent {
        LifecycleEvent(connectionId: connection.id, from: connection.status, to: status, actor: "test", actorRole: .user,
                       reason: "moved", correlationId: UUID(), at: epoch)
    }
}

private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
