import Foundation
import PostgresNIO

/// A PostgreSQL 15 cluster a test owns (Debian's `postgresql-15`): a temporary folder owned by
/// the `postgres` user, `initdb` and `pg_ctl` run as that user (as the current user when not
/// root), a free loopback port, the unix socket in the same folder, fsync off, and a superuser
/// role `switchboard` with a random password that logs in over TCP. It can be stopped and
/// started again on the same port and data, which is what an outage test needs; `remove()`
/// stops it and deletes the folder. `scripts/postgres` makes the same cluster for a whole run.
public final class PostgresCluster: Sendable {
    public static let binaries = "/usr/lib/postgresql/15/bin"
    public static let role = "switchboard"

    public let folder: TemporaryDirectory
    public let port: Int
    public let password: String

    /// `postgres://switchboard:PASSWORD@127.0.0.1:PORT/postgres`.
    public var url: String { url(database: "postgres") }

    public func url(database: String) -> String {
        "postgres://\(Self.role):\(password)@127.0.0.1:\(port)/\(database)"
    }

    /// A client configuration for `database` on this cluster (TCP, password, no TLS).
    public func clientConfiguration(database: String = "postgres") -> PostgresClient.Configuration {
        PostgresClient.Configuration(host: "127.0.0.1", port: port, username: Self.role, password: password,
                                     database: database, tls: .disable)
    }

    public var dataDirectory: String { folder.file("data") }
    public var logPath: String { folder.file("postgres.log") }

    /// Whether Debian's PostgreSQL 15 is installed here.
    public static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: "\(binaries)/initdb")
    }

    private init(folder: TemporaryDirectory, port: Int, password: String) {
        self.folder = folder
        self.port = port
        self.password = password
    }

    /// Makes a new cluster and starts it; the caller removes it (`remove()`), or use `with`.
    public static func start(prefix: String = "switchboard-postgres") async throws -> PostgresCluster {
        guard isInstalled else {
            throw ExternalServerError("PostgreSQL 15 is not installed (no \(binaries)/initdb); `scripts/test` installs Debian's postgresql-15")
        }
        let folder = try TemporaryDirectory(prefix: prefix)
        let cluster = PostgresCluster(folder: folder, port: try freeLoopbackPort(), password: randomHex(bytes: 16))
        do {
            try await cluster.create()
            try await cluster.start()
            try await cluster.createRole()
        } catch {
            await cluster.remove()
            throw error
        }
        return cluster
    }

    /// Runs `body` with a new started cluster and removes it afterwards, also when `body` throws.
    public static func with<T: Sendable>(_ body: (PostgresCluster) async throws -> T) async throws -> T {
        let cluster = try await start()
        do {
            let result = try await body(cluster)
            await cluster.remove()
            return result
        } catch {
            await cluster.remove()
            throw error
        }
    }

    /// Starts the server (again) on the same port and data; returns once it accepts connections.
    public func start() async throws {
        let started = try await Self.runAsOwner("\(Self.binaries)/pg_ctl",
                                                ["-D", dataDirectory, "-l", logPath, "-w", "-t", "60", "start"],
                                                leavesServerRunning: true)
        guard started.status == 0 else {
            throw ExternalServerError("pg_ctl start failed (\(started.status)) on port \(port): \(started.text)\n\(log())")
        }
    }

    public enum StopMode: String, Sendable {
        /// Disconnects every client (they get 57P01 admin_shutdown), then shuts down cleanly.
        case fast
        /// Kills the server without a shutdown checkpoint, like a crash; the next start recovers.
        case immediate
    }

    /// Stops the server (`pg_ctl stop -m fast` by default); returns once it is gone. The data
    /// stays, so `start()` brings the same cluster back.
    public func stop(mode: StopMode = .fast) async throws {
        let stopped = try await Self.runAsOwner("\(Self.binaries)/pg_ctl",
                                                ["-D", dataDirectory, "-m", mode.rawValue, "-w", "-t", "60", "stop"])
        guard stopped.status == 0 else {
            throw ExternalServerError("pg_ctl stop -m \(mode.rawValue) failed (\(stopped.status)): \(stopped.text)")
        }
    }

    /// Whether the server of this cluster is running (`pg_ctl status`).
    public func isRunning() async -> Bool {
        let status = try? await Self.runAsOwner("\(Self.binaries)/pg_ctl", ["-D", dataDirectory, "status"])
        return status?.status == 0
    }

    /// Stops the server if it runs (immediately: its data is thrown away) and deletes the folder.
    public func remove() async {
        if FileManager.default.fileExists(atPath: "\(dataDirectory)/postmaster.pid") {
            _ = try? await Self.runAsOwner("\(Self.binaries)/pg_ctl",
                                           ["-D", dataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"])
        }
        folder.remove()
    }

    /// The end of the server's log.
    public func log() -> String {
        String((try? String(contentsOfFile: logPath, encoding: .utf8))?.suffix(3000) ?? "")
    }

    // MARK: - Making the cluster

    private func create() async throws {
        if geteuid() == 0 {
            // The data, the socket and the log are written by the postgres user; root can still remove them.
            try Self.giveToPostgres(folder.path)
        }
        let initialized = try await Self.runAsOwner("\(Self.binaries)/initdb", [
            "-D", dataDirectory, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
            "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions",
        ])
        guard initialized.status == 0 else {
            throw ExternalServerError("initdb failed (\(initialized.status)) in \(dataDirectory): \(initialized.text)")
        }
        // The server reads its settings from postgresql.conf, so a start again keeps the port.
        let settings = """

            # PostgresCluster (SwitchboardTestSupport): a throwaway cluster for one test
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(folder.path)'
            max_connections = 200
            fsync = off
            synchronous_commit = off
            full_page_writes = off

            """
        let configuration = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(dataDirectory)/postgresql.conf"))
        defer { try? configuration.close() }
        try configuration.seekToEnd()
        try configuration.write(contentsOf: Data(settings.utf8))
    }

    private func createRole() async throws {
        // Trust on the unix socket for the postgres superuser; tests log in as `switchboard` over TCP.
        let created = try await Program.runWaiting("\(Self.binaries)/psql", [
            "-X", "-q", "-h", folder.path, "-p", String(port), "-U", "postgres", "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-c", "CREATE ROLE \(Self.role) LOGIN SUPERUSER PASSWORD '\(password)'",
        ])
        guard created.status == 0 else {
            throw ExternalServerError("creating the role \(Self.role) failed: \(created.text)\n\(log())")
        }
    }

    /// Runs a PostgreSQL program as the postgres user when root (`runuser`), else as ourselves.
    ///
    /// `leavesServerRunning` (pg_ctl start): the program runs with only standard input, output
    /// and error open. Foundation's `Process` learns that a child ended when the child's end of
    /// a socket it inherited closes; a server that pg_ctl leaves running would inherit that end
    /// too (and any other open file of this test process), so `waitUntilExit` would hang until
    /// the server stops. python3 closes every other file before running the program.
    static func runAsOwner(_ program: String, _ arguments: [String],
                           leavesServerRunning: Bool = false) async throws -> ProgramOutput {
        var command = [program] + arguments
        if geteuid() == 0 { command = ["runuser", "-u", "postgres", "--"] + command }
        if leavesServerRunning { command = ["python3", "-c", onlyStandardFiles] + command }
        return try await Program.runWaiting(command[0], Array(command.dropFirst()))
    }

    private static let onlyStandardFiles =
        "import os, sys; os.closerange(3, os.sysconf('SC_OPEN_MAX')); os.execvp(sys.argv[1], sys.argv[1:])"

    private static func giveToPostgres(_ path: String) throws {
        guard let user = getpwnam("postgres") else {
            throw ExternalServerError("no postgres user on this machine; Debian's postgresql-15 makes it")
        }
        guard chown(path, user.pointee.pw_uid, user.pointee.pw_gid) == 0, chmod(path, 0o700) == 0 else {
            throw ExternalServerError("cannot hand \(path) to the postgres user: errno \(errno)")
        }
    }
}

func randomHex(bytes: Int) -> String {
    (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
}
