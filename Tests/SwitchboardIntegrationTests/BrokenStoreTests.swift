import Foundation
import SwitchboardTestSupport
import Testing

/// A database the server cannot trust or cannot write: a start refuses with the file and
/// SQLite's words, and a running server answers 503 (never 500) and is not ready.
@Suite struct BrokenStoreTests {
    /// A data folder with a database the real server made (and closed).
    private static func madeDatabase(in folder: TemporaryDirectory, connections: Int = 1) async throws -> String {
        let data = folder.file("data")
        let server = try await ServerProcess(dataDirectory: data, logPath: folder.file("maker.log"))
        let padding = String(repeating: "x", count: 400)
        for index in 0..<connections {
            let body = #"{"name": "c-\#(index)", "kind": "http", "description": "\#(padding)", "url": "http://127.0.0.1:1/\#(index)"}"#
            #expect(try await server.request(.POST, "/api/integrations/connections", body: body).status == 201)
        }
        #expect(await server.stop(within: .seconds(30)) == 0)
        return data
    }

    @Test func readOnlyDatabaseRefusesToStart() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = try await Self.madeDatabase(in: folder)
        let database = "\(data)/switchboard.sqlite"
        // Root ignores file modes; the immutable attribute stops root too (SQLite then opens the file read-only).
        let immutable = try Program.run("chattr", ["+i", database])
        guard immutable.status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("chattr +i failed on \(database) (the file system must support it under CI): \(immutable.text)")
            }
            return
        }
        defer { _ = try? Program.run("chattr", ["-i", database]) }
        let refused = try await ServerProcess.refusal(dataDirectory: data, timeout: .seconds(20))
        #expect(refused.status != nil && refused.status != 0, "a read-only database must not start: \(refused.output)")
        #expect(refused.output.contains(database), "names the file: \(refused.output)")
        #expect(refused.output.contains("readonly"), "gives SQLite's words: \(refused.output)")
    }

    @Test func databaseMadeReadOnlyWhileRunningAnswers503AndIsNotReady() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.file("data")
        let server = try await ServerProcess(dataDirectory: data, logPath: folder.file("server.log"))
        let files = ["\(data)/switchboard.sqlite", "\(data)/switchboard.sqlite-wal"]
        let immutable = try Program.run("chattr", ["+i"] + files)
        guard immutable.status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("chattr +i failed on \(files) (the file system must support it under CI): \(immutable.text)")
            }
            return
        }
        var restored = false
        defer { if !restored { _ = try? Program.run("chattr", ["-i"] + files) } }
        let (status, body) = try await server.request(.POST, "/api/integrations/connections",
                                                      body: #"{"name": "ro", "kind": "http", "url": "http://127.0.0.1:1/ro"}"#)
        #expect(status == 503, "a write the file refuses answers 503, not 500: \(String(decoding: body, as: UTF8.self))")
        #expect(String(decoding: body, as: UTF8.self).contains("/problems/store-unavailable"))
        #expect(try await server.request(.GET, "/readyz").status == 503, "not ready while writes fail")

        _ = try Program.run("chattr", ["-i"] + files)
        restored = true
        #expect(try await server.request(.GET, "/readyz").status == 200, "ready again once the file takes writes")
        #expect(try await server.request(.POST, "/api/integrations/connections",
                                         body: #"{"name": "rw", "kind": "http", "url": "http://127.0.0.1:1/rw"}"#).status == 201)
        #expect(await server.stop(within: .seconds(30)) == 0)
    }

    @Test func damagedMiddlePageRefusesToStart() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = try await Self.madeDatabase(in: folder, connections: 120)
        let database = "\(data)/switchboard.sqlite"
        // Everything into the main file first, so the damage is not masked by the log.
        let checkpoint = try Program.run("python3", ["-c", "import sqlite3; sqlite3.connect('\(database)').execute('PRAGMA wal_checkpoint(TRUNCATE)')"])
        #expect(checkpoint.status == 0, "\(checkpoint.text)")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: database)[.size] as? Int)
        let pages = size / 4096
        #expect(pages > 20, "the database is big enough to have a middle: \(pages) pages")
        let middle = pages / 2
        let handle = try #require(FileHandle(forUpdatingAtPath: database))
        try handle.seek(toOffset: UInt64(middle * 4096))
        try handle.write(contentsOf: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }))
        try handle.close()

        let refused = try await ServerProcess.refusal(dataDirectory: data, timeout: .seconds(20))
        #expect(refused.status != nil && refused.status != 0, "a damaged database must not start: \(refused.output)")
        #expect(refused.output.contains(database), "names the file: \(refused.output)")
        #expect(refused.output.contains("malformed") || refused.output.contains("quick_check"),
                "gives SQLite's words: \(refused.output)")
    }

    /// Damage that leaves the file's size and times as a clean shutdown recorded them (a
    /// failing disk, an in-place restore that keeps times) skips the check at start, but the
    /// check then runs in the background and the server turns unready.
    @Test func damageHiddenFromTheStartCheckIsFoundInTheBackground() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = try await Self.madeDatabase(in: folder, connections: 120)
        let database = "\(data)/switchboard.sqlite"
        let times = folder.file("times")
        #expect(FileManager.default.createFile(atPath: times, contents: nil))
        #expect(try Program.run("touch", ["-r", database, times]).status == 0)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: database)[.size] as? Int)
        let handle = try #require(FileHandle(forUpdatingAtPath: database))
        try handle.seek(toOffset: UInt64(size / 4096 / 2 * 4096))
        try handle.write(contentsOf: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }))
        try handle.close()
        #expect(try Program.run("touch", ["-r", times, database]).status == 0)

        let log = folder.file("server.log")
        let server = try await ServerProcess(dataDirectory: data, logPath: log)
        #expect(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("unchanged since its clean shutdown"),
                "the start check was skipped, as the file looks untouched")
        try await waitUntil(timeout: .seconds(20), "/readyz fails once the background check finds the damage") {
            try await server.request(.GET, "/readyz").status == 503
        }
        let logged = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(logged.contains("the database is damaged"), "\(logged)")
        _ = await server.stop(within: .seconds(30))
        // Found damaged, so the next start checks in full and refuses.
        let refused = try await ServerProcess.refusal(dataDirectory: data, timeout: .seconds(20))
        #expect(refused.status != nil && refused.status != 0, "\(refused.output)")
    }

    @Test func fullDiskAnswers503AndIsNotReadyUntilSpaceIsFreed() async throws {
        guard MountNamespace.isAvailable() else {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("cannot make a mount namespace with a tmpfs (unshare --mount needs root); CI must run this test")
            }
            return
        }
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let disk = folder.file("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let server = try await ServerProcess(dataDirectory: "\(disk)/data", logPath: folder.file("server.log"),
                                             launcher: MountNamespace.tmpfsLauncher(on: disk, size: "8m"))
        #expect(try await server.request(.GET, "/readyz").status == 200)
        let (made, madeBody) = try await server.request(.POST, "/api/integrations/connections",
                                                        body: #"{"name": "before", "kind": "http", "url": "http://127.0.0.1:1/before"}"#)
        try #require(made == 201)
        struct Created: Decodable { var id: String }
        let before = try JSONDecoder().decode(Created.self, from: madeBody).id

        // Fill the server's disk to the last byte.
        let filler = MountNamespace.path("\(disk)/filler", seenBy: server.pid)
        #expect(FileManager.default.createFile(atPath: filler, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: filler))
        let chunk = Data(repeating: 0x5a, count: 64 * 1024)
        var written = 0
        while (try? handle.write(contentsOf: chunk)) != nil { written += chunk.count }
        try? handle.close()
        #expect(written > 0)

        var statuses: [UInt] = []
        var problem = ""
        for index in 0..<40 {
            let body = #"{"name": "full-\#(index)", "kind": "http", "description": "\#(String(repeating: "y", count: 1000))", "url": "http://127.0.0.1:1/full-\#(index)"}"#
            let (status, data) = try await server.request(.POST, "/api/integrations/connections", body: body)
            statuses.append(status)
            if status == 503 {
                problem = String(decoding: data, as: UTF8.self)
                break
            }
        }
        #expect(!statuses.contains(500), "a full disk is not an internal error: \(statuses)")
        #expect(statuses.last == 503, "a write on a full disk answers 503: \(statuses)")
        #expect(problem.contains("/problems/store-unavailable") && problem.contains("disk is full"), "\(problem)")
        let notReady = try await server.request(.GET, "/readyz")
        #expect(notReady.status == 503, "not ready while the disk is full: \(String(decoding: notReady.body, as: UTF8.self))")
        #expect(try await server.request(.GET, "/healthz").status == 200, "alive all the same")
        // A bulk move reports the same problem for the item it could not store.
        let (bulk, bulkBody) = try await server.request(.POST, "/api/integrations/connections/transitions",
                                                        body: #"{"ids": ["\#(before)"], "status": "ignored"}"#)
        let bulkText = String(decoding: bulkBody, as: UTF8.self)
        #expect(bulk == 200 && bulkText.contains("/problems/store-unavailable") && bulkText.contains("503"), "\(bulk): \(bulkText)")

        // Space again: writes work and the server is ready.
        try FileManager.default.removeItem(atPath: filler)
        let (created, _) = try await server.request(.POST, "/api/integrations/connections",
                                                    body: #"{"name": "after", "kind": "http", "url": "http://127.0.0.1:1/after"}"#)
        #expect(created == 201)
        #expect(try await server.request(.GET, "/readyz").status == 200)
        #expect(await server.stop(within: .seconds(30)) == 0)
    }
}
