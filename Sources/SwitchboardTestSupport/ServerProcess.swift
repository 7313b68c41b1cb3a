import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Foundation

/// The real `switchboard` executable, started as a child process on a free loopback port.
public final class ServerProcess: @unchecked Sendable {
    // @unchecked: `process` and `pipe` are set once in `init` and only read afterwards;
    // Foundation's Process is thread-safe for terminate/wait.
    public let process: Process
    public let address: String
    public let logPath: String
    /// The admin token the server's first start wrote into its data folder.
    public let adminToken: String
    /// What the server printed on standard output up to its address line (the first
    /// start's token, or the hint when no admin token is left).
    public let startupOutput: String

    /// The binary SwiftPM built next to this test bundle (or benchmark program), or `SWITCHBOARD_BINARY`.
    public static func binaryPath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["SWITCHBOARD_BINARY"] { return path }
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = testBinary.deletingLastPathComponent()
        // On Linux the tests run from `.build/debug/<Package>PackageTests.xctest`; on macOS from inside a bundle.
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("switchboard").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        throw ServerProcessError("no switchboard binary beside \(testBinary.path); run `swift build` first or set SWITCHBOARD_BINARY")
    }

    /// `arguments` are added to `serve`'s; `environment` to the inherited one. The
    /// machine's own kubeconfig is imported only when `environment` names one (`KUBECONFIG`).
    /// `launcher` runs the server (e.g. `unshare` and a shell that mounts something first);
    /// it must `exec` the binary and arguments it is given last, so the server keeps its pid.
    public init(dataDirectory: String, logPath: String, arguments: [String] = [],
         environment: [String: String] = [:], launcher: [String] = []) async throws {
        self.logPath = logPath
        var environment = environment
        // A PostgreSQL run (`TestStore.onPostgres`): the data folder's database, the same at every start.
        if environment["SWITCHBOARD_DATABASE_URL"] == nil, !arguments.contains("--database"),
           let url = try await TestStore.databaseURL(standingFor: dataDirectory) {
            environment["SWITCHBOARD_DATABASE_URL"] = url
        }
        let process = try Self.makeProcess(dataDirectory: dataDirectory, arguments: arguments,
                                           environment: environment, launcher: launcher)
        let output = Pipe()
        process.standardOutput = output
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()
        self.process = process
        // The server prints one line with its address once it listens.
        let reader = output.fileHandleForReading
        let line: String? = await Task.detached {
            var buffer = Data()
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let chunk = reader.availableData
                if chunk.isEmpty { return nil }
                buffer.append(chunk)
                // A first start prints the admin token before the address line.
                if let text = String(data: buffer, encoding: .utf8),
                   text.range(of: #"running: .*https?://127\.0\.0\.1:\d+"#, options: .regularExpression) != nil {
                    return text
                }
            }
            return nil
        }.value
        guard let line, let running = line.range(of: "running: "),
              let range = line[running.upperBound...].range(of: #"https?://127\.0\.0\.1:\d+"#, options: .regularExpression) else {
            process.terminate()
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw ServerProcessError("switchboard did not report its address; output: \(line ?? "none"); log: \(log)")
        }
        address = String(line[range])
        startupOutput = line
        // A server in its own mount namespace keeps its files where only its /proc root shows them.
        let tokenFile = launcher.isEmpty ? "\(dataDirectory)/admin-token"
            : MountNamespace.path("\(dataDirectory)/admin-token", seenBy: process.processIdentifier)
        adminToken = (try? String(contentsOfFile: tokenFile, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// `switchboard serve` on `dataDirectory`, not started yet.
    static func makeProcess(dataDirectory: String, arguments: [String], environment: [String: String],
                            launcher: [String]) throws -> Process {
        let process = Process()
        // Checks of local stand-ins answer at once when the machine is idle; on two busy cores
        // a 2 s limit once failed one (a CI run's `connection transition`), so they wait longer.
        let serve = ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDirectory, "--check-timeout", "10"]
            + (environment["KUBECONFIG"] == nil ? ["--no-import-kubeconfig"] : []) + arguments
        if let program = launcher.first, let path = ExternalServer.locate(program) {
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = Array(launcher.dropFirst()) + [try binaryPath()] + serve
        } else {
            process.executableURL = URL(fileURLWithPath: try binaryPath())
            process.arguments = serve
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        return process
    }

    /// Starts `switchboard serve` expecting it to refuse: answers its exit status and
    /// everything it printed, or nil for the status when it was still running after
    /// `timeout` (then it is killed).
    public static func refusal(dataDirectory: String, arguments: [String] = [], environment: [String: String] = [:],
                               launcher: [String] = [], timeout: Duration = .seconds(30)) async throws -> (status: Int32?, output: String) {
        let process = try makeProcess(dataDirectory: dataDirectory, arguments: arguments, environment: environment,
                                      launcher: launcher)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let exited = await waitForExit(process, timeout: timeout)
        if !exited {
            Foundation.kill(process.processIdentifier, SIGKILL)
        }
        // Off the cooperative threads: reading to the end blocks until the process is gone.
        let text = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        return (exited ? process.terminationStatus : nil, text)
    }

    /// Polls (without blocking a thread) until `process` has exited or `timeout` passed.
    static func waitForExit(_ process: Process, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    /// Sends SIGTERM and waits up to `timeout` for a graceful end: the exit status, or nil
    /// when the server ignored it (then it is killed, so a hung server fails a test instead
    /// of hanging it).
    public func stop(within timeout: Duration) async -> Int32? {
        process.terminate()
        guard await Self.waitForExit(process, timeout: timeout) else {
            kill()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The server's process id (for /proc/<pid>/root, signals).
    public var pid: Int32 { process.processIdentifier }

    /// A test that failed before stopping its server must not leave it running.
    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    /// Ends the process at once, as a crash or an out-of-memory kill would.
    public func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Sends SIGHUP (reload the connections file and the TLS certificate).
    public func hangUp() {
        Foundation.kill(process.processIdentifier, SIGHUP)
    }

    /// Asks for a graceful shutdown and returns the exit status. Blocks the calling thread
    /// until the server has stopped: for programs (the benchmarks); tests use `stop()`.
    public func terminate() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// `terminate()`, waiting off Swift's cooperative threads: a graceful shutdown can take
    /// seconds, and two tests blocking the only two such threads stalled every in-process
    /// server and stand-in of the test run (checks timed out, clients gave up).
    public func stop() async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: self.terminate()) }
        }
    }
}

public struct ServerProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension ServerProcess {
    /// One API request as the admin, or with `token` (JSON `body` when given); answers the
    /// status and body.
    public func request(_ method: HTTPMethod, _ path: String, body: String? = nil, token: String? = nil,
                        client: HTTPClient = .shared, timeout: TimeAmount = .seconds(120)) async throws -> (status: UInt, body: Data) {
        var request = HTTPClientRequest(url: address + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token ?? adminToken)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: timeout)
        return (response.status.code, Data(try await response.body.collect(upTo: 64 << 20).readableBytesView))
    }
}

/// Meshery's kubeconfig import as a browser sends it: a multipart form with the file as
/// `k8sfile`. Answers the status and the body.
public func uploadKubeconfig(_ kubeconfig: String, to address: String, token: String, client: HTTPClient,
                             timeout: TimeAmount) async throws -> (status: UInt, body: Data) {
    let boundary = "switchboard-\(UUID().uuidString)"
    let body = "--\(boundary)\r\nContent-Disposition: form-data; name=\"k8sfile\"; filename=\"config\"\r\n\r\n\(kubeconfig)\r\n--\(boundary)--\r\n"
    var request = HTTPClientRequest(url: "\(address)/api/system/kubernetes")
    request.method = .POST
    request.headers.add(name: "Authorization", value: "Bearer \(token)")
    request.headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(boundary)")
    request.body = .bytes(ByteBuffer(string: body))
    let response = try await client.execute(request, timeout: timeout)
    return (response.status.code, Data(try await response.body.collect(upTo: 10 << 20).readableBytesView))
}
