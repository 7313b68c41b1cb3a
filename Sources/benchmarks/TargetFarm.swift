import Foundation
import SwitchboardTestSupport

/// The HTTP targets the monitor and Prometheus check: separate processes (this program
/// started with `targets`), each listening on some of the loopback addresses, answering a
/// small Prometheus exposition for every `/metrics?target=N`. Targets named in the `down`
/// file answer 503, so a benchmark can stage outages. Several processes, because Prometheus
/// keeps up to 1,000 idle connections per address: at 100k targets one process ran out of
/// file descriptors and died.
final class TargetFarm: @unchecked Sendable {
    // @unchecked: set once in `init`.
    let processes: [Process]
    let addresses: [String]
    let port: Int
    let downFile: String

    init(folder: String, addressCount: Int = 16, processCount: Int = 4) async throws {
        port = try freeLoopbackPort()
        addresses = (1...addressCount).map { "127.0.0.\($0)" }
        downFile = folder + "/down.txt"
        FileManager.default.createFile(atPath: downFile, contents: Data())
        let perProcess = addressCount / processCount
        var processes: [Process] = []
        for first in stride(from: 1, through: addressCount, by: perProcess) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            process.arguments = ["targets", "--port", "\(port)", "--first-address", "\(first)",
                                 "--addresses", "\(min(perProcess, addressCount - first + 1))", "--down-file", downFile]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: "/dev/stderr")
            try process.run()
            processes.append(process)
        }
        self.processes = processes
        for address in addresses {
            try await waitUntil(timeout: .seconds(30), "the target farm on \(address)") {
                (try? Tools.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://\(address):\(port)/metrics?target=0"])) == "200"
            }
        }
    }

    func url(_ index: Int) -> String {
        "http://\(addresses[index % addresses.count]):\(port)/metrics?target=\(index)"
    }

    func address(_ index: Int) -> String { "\(addresses[index % addresses.count]):\(port)" }

    /// Targets that answer 503 from now on.
    func takeDown(_ indexes: [Int]) throws {
        try indexes.map(String.init).joined(separator: "\n").write(toFile: downFile, atomically: true, encoding: .utf8)
    }

    /// SIGKILL: the farm's servers treat SIGTERM as a graceful shutdown that waits for
    /// every open connection, and nothing it holds needs a clean end.
    func stop() {
        for process in processes {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
