import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardTestSupport

/// One row of BENCHMARKS.md: a figure, what it is compared with, the ratio and the target.
struct Result {
    var scenario: String
    var figure: String
    var comparedWith: String
    var ratio: Double
    var target: String
    var met: Bool
}

/// Small helpers for running programs and reading a process's resources.
enum Tools {
    /// Runs a program to the end and answers its standard output (and error, merged).
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        try Program.run(executable, arguments).text
    }

    /// CPU seconds (user + system) a process has used, from /proc.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory of a process in bytes, from /proc.
    static func residentBytes(_ pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
        return kilobytes * 1024
    }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
    }

    static func median(_ values: [Double]) -> Double { percentile(values, 0.5) }

    /// One request with the admin token; answers the status and body.
    static func request(_ server: ServerProcess, _ method: HTTPMethod, _ path: String, body: String? = nil,
                        client: HTTPClient = .shared) async throws -> (status: UInt, body: Data) {
        try await server.request(method, path, body: body, client: client)
    }

    static func json(_ data: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    /// `wrk`'s requests per second against `url`.
    static func wrk(_ url: String, token: String, connections: Int, seconds: Int) throws -> Double {
        let output = try run("wrk", ["-t2", "-c\(connections)", "-d\(seconds)s", "-H", "Authorization: Bearer \(token)", url])
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("Requests/sec:") }),
              let value = Double(line.split(separator: " ").last ?? "") else {
            throw ServerProcessError("wrk printed no rate: \(output)")
        }
        if output.contains("Non-2xx") { throw ServerProcessError("wrk saw errors: \(output)") }
        return value
    }

    static func format(_ value: Double, _ digits: Int = 0) -> String {
        String(format: "%.\(digits)f", value)
    }
}
