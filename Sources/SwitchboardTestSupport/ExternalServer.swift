import AsyncHTTPClient
import Foundation

/// A server program from the machine's packages (Prometheus, a static file server), run as
/// a child process on a loopback port for a test.
public final class ExternalServer: @unchecked Sendable {
    // @unchecked: `process` is replaced only by `restart()`, which tests call from one task.
    public let executable: String
    public let arguments: [String]
    public let port: Int
    public let logPath: String
    private var process: Process

    /// Starts `executable` (a name on PATH or a path) and waits until `readyPath` on `port`
    /// answers 200.
    public init(executable: String, arguments: [String], port: Int, logPath: String,
                readyPath: String = "/", readyHeaders: [String: String] = [:]) async throws {
        guard let path = ExternalServer.locate(executable) else {
            throw ExternalServerError("\(executable) is not installed; `scripts/test` installs it from Debian's packages")
        }
        self.executable = path
        self.arguments = arguments
        self.port = port
        self.logPath = logPath
        self.process = try ExternalServer.launch(path, arguments, logPath: logPath)
        try await waitUntilReady(readyPath, headers: readyHeaders)
    }

    /// The full path of `name` on PATH (or `name` itself when it is a path), if installed.
    public static func locate(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for folder in paths.split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Whether tests that need `name` should run here: always under CI (where a missing
    /// program must fail the test, not skip it), elsewhere only when it is installed.
    public static func shouldRun(needing name: String) -> Bool {
        ProcessInfo.processInfo.environment["CI"] != nil || locate(name) != nil
    }

    private static func launch(_ path: String, _ arguments: [String], logPath: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process
    }

    private func waitUntilReady(_ path: String, headers: [String: String]) async throws {
        let deadline = Date().addingTimeInterval(60)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        while Date() < deadline {
            if !process.isRunning {
                throw ExternalServerError("\(executable) exited with \(process.terminationStatus): \(log())")
            }
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)), response.status.code == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ExternalServerError("\(executable) did not become ready on port \(port): \(log())")
    }

    /// Stops the process: SIGTERM now, SIGKILL a second later if it is still there (a child
    /// can inherit an ignored SIGTERM from a test process that handles signals). Returns at
    /// once, so a `defer` in async test code blocks none of Swift's few cooperative threads;
    /// every test's server has a port of its own, so nothing waits for this one to be gone.
    public func stop() {
        let process = process
        guard process.isRunning else { return }
        process.terminate()
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    /// Starts the same program again on the same port, once the old process is gone.
    public func restart(readyPath: String = "/", readyHeaders: [String: String] = [:]) async throws {
        let old = process
        stop()
        for _ in 0..<600 where old.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        process = try ExternalServer.launch(executable, arguments, logPath: logPath)
        try await waitUntilReady(readyPath, headers: readyHeaders)
    }

    public func log() -> String {
        String((try? String(contentsOfFile: logPath, encoding: .utf8))?.suffix(2000) ?? "")
    }

    deinit { if process.isRunning { process.terminate() } }
}

public struct ExternalServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A loopback port nothing listens on right now (the kernel's pick, released for the caller).
public func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw ExternalServerError("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw ExternalServerError("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
