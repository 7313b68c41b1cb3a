import Foundation

/// What a program printed (standard output and error, merged) and how it ended.
public struct ProgramOutput: Sendable {
    public var status: Int32
    public var text: String
}

/// Runs programs to the end: tools the tests and benchmarks call (openssl, promtool, wrk,
/// curl, the switchboard binary's own subcommands).
public enum Program {
    /// Runs `executable` (a name looked up on PATH, or a path) with `arguments`, in
    /// `directory` when given, reading `inputFile` as standard input when given.
    public static func run(_ executable: String, _ arguments: [String], in directory: String? = nil,
                           inputFile: String? = nil) throws -> ProgramOutput {
        guard let path = ExternalServer.locate(executable) else {
            throw ExternalServerError("\(executable) is not installed; `scripts/test` and `scripts/bench` install it from Debian's packages")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let inputFile { process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inputFile)) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProgramOutput(status: process.terminationStatus, text: String(decoding: data, as: UTF8.self))
    }
}

/// Runs blocking work (a program to its end, openssl) on a Dispatch thread and waits for it
/// without holding one of Swift's cooperative threads: on two cores there are two, and the
/// in-process stand-ins of every test running in parallel answer on them.
public func offCooperativeThreads<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

extension Program {
    /// `run`, waiting off the cooperative threads (see `offCooperativeThreads`).
    public static func runWaiting(_ executable: String, _ arguments: [String], in directory: String? = nil,
                                  inputFile: String? = nil) async throws -> ProgramOutput {
        try await offCooperativeThreads { try run(executable, arguments, in: directory, inputFile: inputFile) }
    }
}
