import Foundation
import SwitchboardTestSupport
import Testing

/// The real `switchboard serve --database postgres://…` on a fresh PostgreSQL database:
/// what one start stores, the next start serves; the CLI's tokens and key rotation work
/// against the same database. Fails (not skips) under `CI` without PostgreSQL.
@Suite(.enabled(if: PostgresTestDatabase.shouldRun)) struct PostgresServeTests {
    @Test func aServerOnPostgreSQLKeepsWhatItStoredAcrossStarts() async throws {
        try await PostgresTestDatabase.with { database in
            let folder = try TemporaryDirectory()
            defer { folder.remove() }
            let data = folder.file("data")
            let binary = try ServerProcess.binaryPath()
            let first = try await ServerProcess(dataDirectory: data, logPath: folder.file("first.log"),
                                                arguments: ["--database", database.url])
            let log = try String(contentsOfFile: first.logPath, encoding: .utf8)
            #expect(log.contains("PostgreSQL"), "the log names the database: \(log)")
            #expect(!log.contains(try #require(URL(string: database.url)?.password)), "the password is not logged")
            let (created, body) = try await first.request(.POST, "/api/integrations/connections", body: """
                {"name": "self", "kind": "http", "url": "\(first.address)/healthz", "status": "registered"}
                """)
            #expect(created == 201, "\(String(decoding: body, as: UTF8.self))")
            let (credential, credentialBody) = try await first.request(.POST, "/api/integrations/credentials",
                                                                        body: #"{"name": "c", "type": "token", "secret": {"token": "t0ken"}}"#)
            #expect(credential == 201)
            let credentialJSON = try #require(try JSONSerialization.jsonObject(with: credentialBody) as? [String: Any])
            let credentialId = try #require(credentialJSON["id"] as? String)
            #expect(try await first.request(.GET, "/readyz").status == 200)

            // A token made by the CLI against the same database works on the running server.
            let issued = try Program.run(binary, ["token", "create", "--data-dir", data, "--database", database.url,
                                                  "--user", "bob", "--role", "member"])
            #expect(issued.status == 0, "\(issued.text)")
            let bob = try #require(issued.text.range(of: #"sbt_[A-Za-z0-9_-]+"#, options: .regularExpression).map { String(issued.text[$0]) })
            #expect(try await first.request(.GET, "/api/integrations/connections", token: bob).status == 200)
            #expect(await first.stop(within: .seconds(30)) == 0)

            let second = try await ServerProcess(dataDirectory: data, logPath: folder.file("second.log"),
                                                 arguments: ["--database", database.url])
            let (listed, listing) = try await second.request(.GET, "/api/integrations/connections")
            #expect(listed == 200 && String(decoding: listing, as: UTF8.self).contains(#""totalCount":1"#),
                    "\(String(decoding: listing, as: UTF8.self))")
            // The credential opens with the data folder's key: its secret's key names show.
            let (read, readBody) = try await second.request(.GET, "/api/integrations/credentials/\(credentialId)")
            #expect(read == 200 && String(decoding: readBody, as: UTF8.self).contains(#""secretKeys":["token"]"#),
                    "\(read) \(String(decoding: readBody, as: UTF8.self)); log: \((try? String(contentsOfFile: second.logPath, encoding: .utf8)) ?? "")")
            let rotated = try Program.run(binary, ["secrets", "rotate-key", "--data-dir", data, "--database", database.url])
            #expect(rotated.status == 0 && rotated.text.contains("re-sealed 1 credential"), "\(rotated.text)")
            #expect(try await second.request(.GET, "/api/integrations/credentials/\(credentialId)").status == 200)
            #expect(await second.stop(within: .seconds(30)) == 0)
        }
    }
}
