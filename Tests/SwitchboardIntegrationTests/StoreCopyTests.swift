import ConnectionLifecycle
import Foundation
import StoreContract
import SwitchboardTestSupport
import Testing

/// `switchboard store copy` with the real binary: a SQLite installation of 10,000
/// connections with history, a credential, an environment and tokens moves into an empty
/// PostgreSQL database; a server started on it answers exactly what the SQLite server
/// answered, and the old tokens work. A second copy into the same database is refused, and
/// so is a copy while a server holds the data folder. Fails (not skips) under `CI` without
/// PostgreSQL.
@Suite(.enabled(if: PostgresTestDatabase.shouldRun)) struct StoreCopyTests {
    /// The requests whose answers must be the same before and after the move.
    static func answers(_ server: ServerProcess, connection: String, credential: String, environment: String,
                        token: String) async throws -> [String: Any] {
        var answers: [String: Any] = [:]
        for path in [
            "/api/integrations/connections?pagesize=25&order=name%20asc",
            "/api/integrations/connections?pagesize=10&page=37&status=ignored",
            "/api/integrations/connections/\(connection)", "/api/integrations/connections/\(connection)/events",
            "/api/integrations/credentials", "/api/integrations/credentials/\(credential)",
            "/api/environments", "/api/environments/\(environment)",
        ] {
            let (status, body) = try await server.request(.GET, path, token: token)
            #expect(status == 200, "\(path): \(status) \(String(decoding: body, as: UTF8.self))")
            answers[path] = try JSONSerialization.jsonObject(with: body)
        }
        // The same server id (its address is the new process's own).
        let (status, body) = try await server.request(.GET, "/api/system/server", token: token)
        #expect(status == 200)
        answers["server id"] = try field("id", in: body)
        return answers
    }

    @Test func aPopulatedSQLiteFolderMovesToPostgreSQL() async throws {
        try await PostgresTestDatabase.with { database in
            let folder = try TemporaryDirectory()
            defer { folder.remove() }
            let data = folder.file("data")
            let binary = try ServerProcess.binaryPath()

            // What a team made by hand, through the API and the CLI.
            let first = try await ServerProcess(dataDirectory: data, logPath: folder.file("first.log"))
            let admin = first.adminToken
            let made = try await first.request(.POST, "/api/integrations/connections", body: """
                {"name": "by hand", "kind": "http", "url": "http://127.0.0.1:9/by-hand", "status": "discovered"}
                """)
            #expect(made.status == 201)
            let connection = try #require(try Self.field("id", in: made.body))
            let credential = try #require(try Self.field("id", in: try await first.request(
                .POST, "/api/integrations/credentials", body: #"{"name": "c", "type": "token", "secret": {"token": "t0ken"}}"#).body))
            let environment = try #require(try Self.field("id", in: try await first.request(
                .POST, "/api/environments", body: #"{"name": "prod", "connections": ["\#(connection)"]}"#).body))
            let issued = try Program.run(binary, ["token", "create", "--data-dir", data, "--user", "bob", "--role", "member"])
            let bob = try #require(issued.text.range(of: #"sbt_[A-Za-z0-9_-]+"#, options: .regularExpression).map { String(issued.text[$0]) })
            #expect(await first.stop(within: .seconds(30)) == 0)

            // 10,000 more, each with a second event (with the one above: 20,001 events): ignored, so no monitor touches them between the two servers.
            let store = try TestStore.sqlite("\(data)/switchboard.sqlite")
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            let ids = try await Seeding.many(in: store, count: 10_000) { index in
                Connection(name: String(format: "seeded-%05d", index), url: "http://10.0.\(index / 250).\(index % 250)/",
                           kind: "http", type: "component", subType: "http", status: .registered,
                           fingerprint: "http http://10.0.\(index / 250).\(index % 250)/",
                           createdAt: start, updatedAt: start)
            }
            for slice in stride(from: 0, to: ids.count, by: 1000) {
                let current = try await store.connections(ids: Array(ids[slice..<min(slice + 1000, ids.count)]))
                _ = try await store.updateMany(current.values.map { connection in
                    var ignored = connection
                    ignored.status = .ignored
                    ignored.updatedAt = start.addingTimeInterval(60)
                    return StoredMove(connection: ignored, expectedVersion: connection.version, event: LifecycleEvent(
                        connectionId: connection.id, from: .registered, to: .ignored, actor: "seed", actorRole: .user,
                        reason: "seeded history", correlationId: UUID(), at: ignored.updatedAt))
                })
            }
            try await store.close()

            let before = try await ServerProcess(dataDirectory: data, logPath: folder.file("before.log"))
            let expected = try await Self.answers(before, connection: connection, credential: credential,
                                                  environment: environment, token: admin)
            // While a server holds the folder, a copy is refused: it would miss what that server writes next.
            let busy = try Program.run(binary, ["store", "copy", "--from", data, "--to", database.url])
            #expect(busy.status != 0 && busy.text.contains("in use by another switchboard server"), "\(busy.text)")
            #expect(await before.stop(within: .seconds(30)) == 0)

            let copy = try Program.run(binary, ["store", "copy", "--from", data, "--to", database.url])
            #expect(copy.status == 0, "\(copy.text)")
            #expect(copy.text.contains("connections\t10001") && copy.text.contains("events\t20001")
                    && copy.text.contains("api_tokens\t2") && copy.text.contains("server_identity\t1"), "\(copy.text)")
            #expect(!copy.text.contains(try #require(URL(string: database.url)?.password)), "no password in the output")

            let after = try await ServerProcess(dataDirectory: data, logPath: folder.file("after.log"),
                                                arguments: ["--database", database.url])
            let answered = try await Self.answers(after, connection: connection, credential: credential,
                                                  environment: environment, token: admin)
            for (path, answer) in expected {
                #expect((answered[path] as? NSObject)?.isEqual(answer) == true,
                        "\(path) differs on PostgreSQL:\n\(answered[path] ?? "nothing")\nwas\n\(answer)")
            }
            #expect(try await after.request(.GET, "/api/integrations/connections", token: bob).status == 200, "bob's token")
            // New events are numbered after the copied ones.
            let moved = try await after.request(.POST, "/api/integrations/connections/\(connection)/transitions",
                                                body: #"{"status": "ignored"}"#)
            #expect(moved.status == 200, "\(String(decoding: moved.body, as: UTF8.self))")
            #expect(await after.stop(within: .seconds(30)) == 0)

            // The database holds an installation now: a second copy is refused, and changes nothing.
            let again = try Program.run(binary, ["store", "copy", "--from", data, "--to", database.url])
            #expect(again.status != 0 && again.text.contains("already holds data"), "\(again.text)")
        }
    }

    static func field(_ name: String, in body: Data) throws -> String? {
        (try JSONSerialization.jsonObject(with: body) as? [String: Any])?[name] as? String
    }
}
