import ConnectionLifecycle
import Foundation
import Logging
import PostgresNIO
import StoreBackends
import SwitchboardPostgres
import SwitchboardTestSupport

/// api-transition and list-scaling on PostgreSQL: the server with `--database` on a throwaway
/// PostgreSQL 15 cluster (the tests' settings), against a loop of the store's own SQL on the
/// same server. Stores are seeded in SQLite (fast) and moved with `store copy`.
enum PostgresScenarios {
    /// A new database on the run's cluster holding a copy of the SQLite store in `dataDirectory`.
    static func database(copying dataDirectory: String) async throws -> PostgresTestDatabase {
        let database = try await PostgresTestDatabase.create()
        _ = try await StoreBackends.copy(from: .sqlite(path: dataDirectory + "/switchboard.sqlite"),
                                         to: .postgres(url: database.url))
        return database
    }

    /// `body` with a copy of the SQLite store in `dataDirectory` in a new database, dropped afterwards.
    static func withDatabase<T>(copying dataDirectory: String, _ body: (PostgresTestDatabase) async throws -> T) async throws -> T {
        let database = try await database(copying: dataDirectory)
        do {
            let result = try await body(database)
            try await database.drop()
            return result
        } catch {
            try? await database.drop()
            throw error
        }
    }

    /// Durable transitions over HTTP, one per request from 16 clients, against one loop doing
    /// what the store does for each (a transaction: read the version, compare-and-set the row,
    /// take the event log's lock, append the event) on the same server.
    static func apiTransition(_ folder: TemporaryDirectory, count: Int) async throws -> [Result] {
        let shape = { (index: Int) in (Seeder.kinds[4], ConnectionStatus.discovered, "http://127.0.0.1:9/move-\(index)") }
        let seeded = folder.file("pg-transition")
        let ids = try await Seeder.seed(seeded, count: 2 * count, shape: shape)
        return try await withDatabase(copying: seeded) { database in
            try await apiTransition(folder, seeded: seeded, database: database, ids: ids, count: count)
        }
    }

    private static func apiTransition(_ folder: TemporaryDirectory, seeded: String, database: PostgresTestDatabase,
                                      ids: [UUID], count: Int) async throws -> [Result] {
        let viaAPI = Array(ids[..<count]), viaLoop = Array(ids[count...])

        let direct = try await directLoop(database, ids: viaLoop)

        let server = try await ServerProcess(dataDirectory: seeded, logPath: folder.file("pg-single.log"),
                                             arguments: APIScenarios.serverArguments + ["--database", database.url])
        let clients = 16
        let start = ContinuousClock.now
        let moved = try await withThrowingTaskGroup(of: Int.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var done = 0
                    for id in stride(from: client, to: viaAPI.count, by: clients).map({ viaAPI[$0] }) {
                        let answer = try await Tools.request(server, .POST, "/api/integrations/connections/\(id.lowercasedString)/transitions",
                                                             body: #"{"status": "ignored", "reason": "benchmark"}"#)
                        if answer.status == 200 { done += 1 }
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        let rate = Double(moved) / (ContinuousClock.now - start).seconds
        _ = server.terminate()
        return [Result(
            scenario: "api-transition on PostgreSQL (single)", figure: "\(Tools.format(rate)) transitions/s (\(moved) of \(count), \(clients) clients)",
            comparedWith: "direct PostgreSQL loop, same server (version read, compare-and-set, event-log lock, event insert, a transaction each): \(Tools.format(direct)) /s",
            ratio: rate / direct, target: "≥ 0.5", met: rate / direct >= 0.5)]
    }

    /// The ceiling: the store's statements for one transition, straight through PostgresNIO,
    /// one transaction per move, as fast as one loop goes.
    static func directLoop(_ database: PostgresTestDatabase, ids: [UUID]) async throws -> Double {
        let client = PostgresClient(configuration: database.clientConfiguration)
        return try await withThrowingTaskGroup(of: Double?.self) { group in
            group.addTask { await client.run(); return nil }
            let logger = Logger(label: "bench")
            let start = ContinuousClock.now
            for id in ids {
                try await client.withTransaction(logger: logger) { db in
                    let rows = try await db.query("SELECT version FROM connections WHERE id = \(id)", logger: logger).collect()
                    guard let version = try rows.first?.decode(Int64.self) else { return }
                    let now = Date().storageMilliseconds
                    _ = try await db.query("""
                        UPDATE connections SET status = 'ignored', updated_at = \(now), version = \(version + 1),
                            status_changed_by = 'user' WHERE id = \(id) AND version = \(version) RETURNING 1
                        """, logger: logger).collect()
                    _ = try await db.query("SELECT pg_advisory_xact_lock(\(PostgresEventLog.lockKey))", logger: logger).collect()
                    _ = try await db.query("""
                        INSERT INTO events (connection_id, from_status, to_status, actor, actor_role, reason, correlation_id, at)
                        VALUES (\(id), 'discovered', 'ignored', 'admin', 'user', 'benchmark', \(UUID()), \(now)) RETURNING sequence
                        """, logger: logger).collect()
                }
            }
            let rate = Double(ids.count) / (ContinuousClock.now - start).seconds
            group.cancelAll()
            return rate
        }
    }
}
