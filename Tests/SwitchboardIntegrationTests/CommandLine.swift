import AsyncHTTPClient
import Foundation
import NIOCore
import SwitchboardTestSupport

/// Runs the real `switchboard` binary as a client, the way a person at a terminal would.
struct SwitchboardCLI: Sendable {
    struct Run {
        var status: Int32
        var output: String
        var errors: String
    }

    var environment: [String: String]

    /// A client of `server`; with a token unless `token` is nil, and with a config file of
    /// its own so the machine's saved login never leaks in.
    init(server: String?, token: String?, config: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["SWITCHBOARD_SERVER"] = server
        environment["SWITCHBOARD_TOKEN"] = token
        environment["SWITCHBOARD_CONFIG"] = config
        self.environment = environment
    }

    /// Waits off Swift's cooperative threads: stand-in servers in this test process answer
    /// on those, so blocking them while the binary talks to one would stall both.
    func run(_ arguments: [String], input: String? = nil) async throws -> Run {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(arguments, input: input) })
            }
        }
    }

    private func runBlocking(_ arguments: [String], input: String?) throws -> Run {
        let process = try launch(arguments)
        if let input {
            let pipe = process.standardInput as? Pipe
            try pipe?.fileHandleForWriting.write(contentsOf: Data(input.utf8))
        }
        try (process.standardInput as? Pipe)?.fileHandleForWriting.close()
        let out = (process.standardOutput as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
        let err = (process.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self),
                   errors: String(decoding: err, as: UTF8.self))
    }

    func callAsFunction(_ arguments: String..., input: String? = nil) async throws -> Run {
        try await run(arguments, input: input)
    }

    /// Starts a command that runs until stopped (`connection watch`).
    func launch(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ServerProcess.binaryPath())
        process.arguments = arguments
        process.environment = environment
        process.standardInput = Pipe()
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        return process
    }
}

/// A JSON answer's field, for tests that read the CLI's `-o json`.
func jsonField(_ text: String, _ key: String) -> Any? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?[key]
}
