import Foundation
import PostgresNIO
import SwitchboardTestSupport
import Testing

/// The PostgreSQL test harness against real PostgreSQL 15: a test's own database on the run's
/// server (`scripts/postgres`, or this process's own cluster), and a private cluster that stops
/// and starts again under a running `PostgresClient`. Under CI a missing PostgreSQL fails them.
@Suite struct PostgresHarnessTests {
    private static func selectOne(_ client: PostgresClient) async throws -> Int {
        var answer = 0
        for try await value in try await client.query("SELECT 1").decode(Int.self) { answer = value }
        return answer
    }

    /// How an error reads in the test's output: its type, PostgresNIO's code and the SQLSTATE.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            let state = error.serverInfo?[.sqlState].map { " SQLSTATE \($0)" } ?? ""
            let message = error.serverInfo?[.message].map { " \"\($0)\"" } ?? ""
            let underlying = error.underlying.map { " underlying \(type(of: $0)): \($0)" } ?? ""
            return "PSQLError code \(error.code)\(state)\(message)\(underlying)"
        }
        return "\(type(of: error)): \(error)"
    }

    @Test(.enabled(if: PostgresTestDatabase.shouldRun), .timeLimit(.minutes(2)))
    func aTestsOwnDatabaseAnswersAndIsDroppedAfterwards() async throws {
        let name = try await PostgresTestDatabase.with { database in
            #expect(try await PostgresTestDatabase.exists(named: database.name))
            #expect(database.url.hasSuffix("/\(database.name)"))
            try await withPostgresClient(database.clientConfiguration) { client in
                #expect(try await Self.selectOne(client) == 1)
                var current = ""
                for try await value in try await client.query("SELECT current_database()").decode(String.self) {
                    current = value
                }
                #expect(current == database.name, "the client is on the test's own database")
                // Left open on purpose: the drop disconnects what is still connected.
                try await client.query("CREATE TABLE probe (id bigint PRIMARY KEY)")
            }
            return database.name
        }
        #expect(try await PostgresTestDatabase.exists(named: name) == false, "\(name) is dropped afterwards")
        // withPostgresDatabase gives the URL of another new database.
        let other = try await withPostgresDatabase { url in url }
        #expect(!other.hasSuffix("/\(name)"))
    }

    @Test(.enabled(if: ExternalServer.shouldRun(needing: "\(PostgresCluster.binaries)/initdb")), .timeLimit(.minutes(4)))
    func aPrivateClusterStopsAndStartsAgainAndTheClientRecovers() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresClient(cluster.clientConfiguration()) { client in
                #expect(try await Self.selectOne(client) == 1)

                // A query in flight when the server stops fails at once (it does not wait out its pg_sleep).
                let inFlight = Task {
                    for try await _ in try await client.query("SELECT pg_sleep(60)") {}
                    return true
                }
                try await waitUntil(timeout: .seconds(15), "pg_sleep running") {
                    var running = 0
                    for try await count in try await client.query(
                        "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'"
                    ).decode(Int.self) { running = count }
                    return running == 1
                }
                let stopping = ContinuousClock.now
                try await cluster.stop()
                #expect(await cluster.isRunning() == false)
                do {
                    _ = try await withDeadline(.seconds(10), "the query in flight") { try await inFlight.value }
                    Issue.record("a query in flight answered although the server stopped")
                } catch is TimedOut {
                    Issue.record("a query in flight still hung 10 s after the server stopped")
                } catch {
                    print("PostgreSQL stopped: the query in flight failed after \(ContinuousClock.now - stopping): \(Self.describe(error))")
                }

                // A new query while it is down: bounded by our deadline (PostgresClient queues it while
                // it retries to connect; see the note), so it fails with an error and never hangs.
                let asked = ContinuousClock.now
                do {
                    let answer = try await withDeadline(.seconds(3), "SELECT 1 while PostgreSQL is down") {
                        try await Self.selectOne(client)
                    }
                    Issue.record("SELECT 1 answered \(answer) while PostgreSQL was stopped")
                } catch {
                    print("PostgreSQL down: SELECT 1 failed after \(ContinuousClock.now - asked): \(Self.describe(error))")
                }
                #expect(ContinuousClock.now - asked < .seconds(8), "the bounded query came back in time")

                // Started again on the same port and data: the same client answers again by itself.
                try await cluster.start()
                let restarted = ContinuousClock.now
                var attempts = 0
                try await waitUntil(timeout: .seconds(90), "the same client answers after the restart") {
                    attempts += 1
                    return (try? await withDeadline(.seconds(2), "SELECT 1") { try await Self.selectOne(client) }) == 1
                }
                print("PostgreSQL started again: the same client answered after \(ContinuousClock.now - restarted) (\(attempts) attempts)")
            }
            // A new client on the restarted cluster answers at once.
            try await withPostgresClient(cluster.clientConfiguration()) { client in
                let answer = try await withDeadline(.seconds(10), "SELECT 1 on a new client") { try await Self.selectOne(client) }
                #expect(answer == 1)
            }
        }
    }
}
