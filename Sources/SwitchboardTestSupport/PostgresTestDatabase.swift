import Foundation
import Logging
import PostgresNIO
import Synchronization

/// A fresh PostgreSQL database for one test, made with CREATE DATABASE on the server that
/// `SWITCHBOARD_TEST_POSTGRES_URL` names (`scripts/test` starts one with `scripts/postgres`) and
/// dropped afterwards:
///
///     try await PostgresTestDatabase.with { database in
///         try await withPostgresClient(database.clientConfiguration) { client in … }
///     }
///
/// Without the variable: under `CI` it throws (the test fails, it does not skip); elsewhere the
/// test process starts a private cluster of its own once (`PostgresCluster`) and stops it when
/// it exits, so `swift test --filter X` works alone. Suites use `.enabled(if: PostgresTestDatabase.shouldRun)`.
public struct PostgresTestDatabase: Sendable {
    public static let urlVariable = "SWITCHBOARD_TEST_POSTGRES_URL"

    /// The database's name (`sbtest_` and random hex).
    public let name: String
    /// `postgres://USER:PASSWORD@HOST:PORT/NAME`.
    public let url: String
    /// A client configuration for this database (TCP, password, no TLS).
    public let clientConfiguration: PostgresClient.Configuration
    /// The server's URL (its maintenance database), on which the database was made.
    public let serverURL: String

    /// Whether PostgreSQL tests should run here: always under CI (where a missing server must
    /// fail the test, not skip it), elsewhere when the variable is set or PostgreSQL 15 is installed.
    public static var shouldRun: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["CI"] != nil || environment[urlVariable] != nil || PostgresCluster.isInstalled
    }

    /// The server the tests' databases are made on: the variable's URL, or (not under CI) the
    /// URL of this process's own cluster, started on first use.
    public static func server() async throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let url = environment[urlVariable], !url.isEmpty { return url }
        if environment["CI"] != nil {
            throw ExternalServerError("PostgreSQL tests need \(urlVariable); run scripts/test (it starts PostgreSQL with scripts/postgres)")
        }
        return try await FallbackCluster.shared.url()
    }

    /// Makes a new database; the caller drops it (`drop()`), or use `with`.
    public static func create() async throws -> PostgresTestDatabase {
        let serverURL = try await server()
        let server = try PostgresServerURL(serverURL)
        let name = "sbtest_\(randomHex(bytes: 8))"
        try await server.withConnection { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: #"CREATE DATABASE "\#(name)""#), logger: quietLogger)
        }
        let database = server.replacingDatabase(name)
        return PostgresTestDatabase(name: name, url: database.url, clientConfiguration: database.clientConfiguration,
                                    serverURL: serverURL)
    }

    /// Drops the database, disconnecting whatever is still connected to it.
    public func drop() async throws {
        try await PostgresServerURL(serverURL).withConnection { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: #"DROP DATABASE IF EXISTS "\#(name)" WITH (FORCE)"#),
                                           logger: quietLogger)
        }
    }

    /// Runs `body` with a new database and drops it afterwards, also when `body` throws.
    public static func with<T>(_ body: (PostgresTestDatabase) async throws -> T) async throws -> T {
        let database = try await create()
        let result: T
        do {
            result = try await body(database)
        } catch {
            try? await database.drop()
            throw error
        }
        try await database.drop()
        return result
    }

    /// Whether a database of that name exists on the tests' server.
    public static func exists(named name: String) async throws -> Bool {
        try await PostgresServerURL(try await server()).withConnection { connection in
            let rows = try await connection.query("SELECT count(*) FROM pg_database WHERE datname = \(name)", logger: quietLogger)
            var count = 0
            for try await value in rows.decode(Int.self) { count = value }
            return count > 0
        }
    }
}

/// Runs `body` with the URL of a new database (see `PostgresTestDatabase.with`).
public func withPostgresDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
    try await PostgresTestDatabase.with { database in try await body(database.url) }
}

/// Runs `body` with a `PostgresClient` whose `run()` goes on in a child task, cancelled when
/// `body` returns or throws (which closes the client's connections).
public func withPostgresClient<T>(_ configuration: PostgresClient.Configuration,
                                  _ body: (PostgresClient) async throws -> T) async throws -> T {
    let client = PostgresClient(configuration: configuration)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

let quietLogger = Logger(label: "switchboard.test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

/// A `postgres://user:password@host:port/database` URL as the tests use it (no TLS options).
struct PostgresServerURL: Sendable {
    let host: String
    let port: Int
    let username: String
    let password: String?
    let database: String

    init(_ url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty, let username = components.user, !username.isEmpty else {
            throw ExternalServerError("not a postgres://user:password@host:port/database URL: \(url)")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = username
        self.password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? "postgres" : path
    }

    private init(host: String, port: Int, username: String, password: String?, database: String) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    func replacingDatabase(_ database: String) -> PostgresServerURL {
        PostgresServerURL(host: host, port: port, username: username, password: password, database: database)
    }

    var url: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.host = host
        components.port = port
        components.user = username
        components.password = password
        components.path = "/" + database
        return components.string ?? "postgres://\(host):\(port)/\(database)"
    }

    var clientConfiguration: PostgresClient.Configuration {
        PostgresClient.Configuration(host: host, port: port, username: username, password: password,
                                     database: database, tls: .disable)
    }

    /// One connection for an administrative statement (CREATE/DROP DATABASE), closed afterwards.
    func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let configuration = PostgresConnection.Configuration(host: host, port: port, username: username,
                                                             password: password, database: database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: quietLogger)
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// The cluster a test process starts for itself when no server URL is given (not under CI):
/// started once, on first use, and stopped when the process exits. A process that died without
/// exiting leaves its cluster behind; the next one stops and removes such leftovers.
actor FallbackCluster {
    static let shared = FallbackCluster()
    static let prefix = "switchboard-postgres-fallback"
    /// The running cluster's folder, for the exit handler.
    private static let folder = Mutex<String?>(nil)

    private var starting: Task<String, any Error>?

    func url() async throws -> String {
        if let starting { return try await starting.value }
        let task = Task<String, any Error> {
            Self.removeLeftovers()
            let cluster = try await PostgresCluster.start(prefix: Self.prefix)
            try String(getpid()).write(toFile: cluster.folder.file("owner.pid"), atomically: true, encoding: .utf8)
            Self.folder.withLock { $0 = cluster.folder.path }
            atexit { FallbackCluster.stopAtExit() }
            return cluster.url
        }
        starting = task
        return try await task.value
    }

    private static func stopAtExit() {
        guard let path = folder.withLock({ $0 }) else { return }
        stopAndRemove(folder: path)
    }

    /// Stops (SIGQUIT: immediate shutdown) the postmaster of `folder`'s data, by the pid in its
    /// postmaster.pid and only if that process is this data's postmaster, then removes the folder.
    static func stopAndRemove(folder path: String) {
        let pidFile = "\(path)/data/postmaster.pid"
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
           let line = text.split(separator: "\n").first, let pid = pid_t(line.trimmingCharacters(in: .whitespaces)),
           let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
           command.contains("\(path)/data") {
            kill(pid, SIGQUIT)
            for _ in 0..<500 where kill(pid, 0) == 0 { usleep(10_000) }
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Fallback clusters whose test process is gone (it crashed or was killed).
    private static func removeLeftovers() {
        let temporary = NSTemporaryDirectory()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temporary) else { return }
        for name in names where name.hasPrefix(prefix + "-") {
            let path = URL(fileURLWithPath: temporary).appendingPathComponent(name).path
            guard let owner = (try? String(contentsOfFile: "\(path)/owner.pid", encoding: .utf8)).flatMap({ pid_t($0) }),
                  kill(owner, 0) == -1, errno == ESRCH else { continue }
            stopAndRemove(folder: path)
        }
    }
}
