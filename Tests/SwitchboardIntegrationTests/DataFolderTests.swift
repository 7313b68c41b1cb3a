import Foundation
import SwitchboardTestSupport
import Testing

/// The data folder as the real binary leaves it: private files, and one server at a time.
@Suite struct DataFolderTests {
    private static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int) & 0o777
    }

    @Test func folderAndFilesAreOnlyTheServersUsers() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.file("data")
        let server = try await ServerProcess(dataDirectory: data, logPath: folder.file("server.log"))
        // A write, so SQLite has made its -wal and -shm files.
        let (status, _) = try await server.request(.POST, "/api/integrations/credentials",
                                                   body: #"{"name": "c", "type": "token", "secret": {"token": "t"}}"#)
        #expect(status == 201)
        #expect(try Self.mode(data) == 0o700, "data folder")
        for file in ["switchboard.sqlite", "switchboard.sqlite-wal", "switchboard.sqlite-shm", "secrets.key",
                     "admin-token", "switchboard.lock"] {
            #expect(try Self.mode("\(data)/\(file)") == 0o600, "\(file)")
        }
        #expect(await server.stop(within: .seconds(30)) == 0)

        // A database an older version left 0644 is made private on the next start.
        chmod("\(data)/switchboard.sqlite", 0o644)
        let again = try await ServerProcess(dataDirectory: data, logPath: folder.file("again.log"))
        #expect(try Self.mode("\(data)/switchboard.sqlite") == 0o600)
        #expect(await again.stop(within: .seconds(30)) == 0)
    }

    @Test func secondServerOnTheSameFolderRefusesNamingTheFolderAndTheFirst() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.file("data")
        let first = try await ServerProcess(dataDirectory: data, logPath: folder.file("first.log"))
        let second = try await ServerProcess.refusal(dataDirectory: data, timeout: .seconds(20))
        #expect(second.status != nil && second.status != 0, "the second server must exit, not run: \(second.output)")
        #expect(second.output.contains(data), "names the folder: \(second.output)")
        #expect(second.output.contains("pid \(first.pid)"), "names the first server's pid: \(second.output)")
        // The first keeps serving.
        #expect(try await first.request(.GET, "/readyz").status == 200)

        // However the first ends (here SIGKILL), the kernel drops its lock: a new server starts.
        first.kill()
        let third = try await ServerProcess(dataDirectory: data, logPath: folder.file("third.log"))
        #expect(try await third.request(.GET, "/readyz").status == 200)
        #expect(await third.stop(within: .seconds(30)) == 0)
    }

    /// A start after a clean shutdown skips reading every page again (the file is as the
    /// server left it); a start after a crash, or after the file changed, checks it in full.
    @Test func onlyACleanShutdownSparesTheFullCheck() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.file("data")
        func start(_ run: Int) async throws -> (ServerProcess, String) {
            let log = folder.file("server-\(run).log")
            let server = try await ServerProcess(dataDirectory: data, logPath: log)
            return (server, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        let full = "database checked in full"
        let spared = "database unchanged since its clean shutdown"

        let (first, firstLog) = try await start(1)
        #expect(firstLog.contains(full), "\(firstLog)")
        #expect(await first.stop() == 0)
        let (second, secondLog) = try await start(2)
        #expect(secondLog.contains(spared), "after a clean shutdown: \(secondLog)")
        second.kill()
        let (third, thirdLog) = try await start(3)
        #expect(thirdLog.contains(full), "after a crash: \(thirdLog)")
        #expect(await third.stop() == 0)
        // Touched by something else after the clean shutdown.
        try await Task.sleep(for: .milliseconds(20))
        let database = "\(data)/switchboard.sqlite"
        let handle = try #require(FileHandle(forUpdatingAtPath: database))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(count: 4096))
        try handle.close()
        let (fourth, fourthLog) = try await start(4)
        #expect(fourthLog.contains(full), "after the file changed: \(fourthLog)")
        #expect(await fourth.stop() == 0)
    }
}
