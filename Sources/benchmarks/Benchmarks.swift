import ArgumentParser
import Foundation
import SwitchboardTestSupport

/// Runs every benchmark against its ceiling or peer in the same run and rewrites
/// BENCHMARKS.md. Build it in release mode; `scripts/bench` does both.
@main
struct Benchmarks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Switchboard's benchmarks, each against a ceiling or peer measured in the same run.",
        subcommands: [Run.self, Targets.self, Seed.self], defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        @Option(help: "Only these scenarios (comma-separated): api-read, api-transition, list-scaling, startup, monitor-scale (includes memory), postgres (api-transition and list-scaling on PostgreSQL), replicas (two servers on one PostgreSQL database monitoring the largest size).")
        var only: String?
        @Option(help: "The largest store and target count.") var scale: Int = 100_000
        @Option(help: "Store and target counts for list-scaling and monitor-scale (comma-separated; default scale/100, scale/10, scale).")
        var sizes: String?
        @Option(help: "Seconds each load runs.") var seconds: Int = 10
        @Option(help: "Where the table goes.") var output: String = "BENCHMARKS.md"

        func run() async throws {
            let chosen = Set((only ?? "api-read,api-transition,list-scaling,startup,monitor-scale,postgres,replicas").split(separator: ",").map(String.init))
            let folder = try TemporaryDirectory(prefix: "switchboard-bench")
            defer { folder.remove() }
            let sizes = sizes.map { $0.split(separator: ",").compactMap { Int($0) } } ?? [scale / 100, scale / 10, scale]
            var results: [Result] = []
            func step(_ name: String, _ body: () async throws -> [Result]) async {
                guard chosen.contains(name) else { return }
                FileHandle.standardError.write(Data("benchmark \(name)…\n".utf8))
                do {
                    let rows = try await body()
                    for row in rows { FileHandle.standardError.write(Data("  \(row.scenario): \(row.figure) | \(row.comparedWith) | ratio \(Tools.format(row.ratio, 2))\n".utf8)) }
                    results += rows
                } catch {
                    results.append(Result(scenario: name, figure: "failed: \(error)", comparedWith: "-", ratio: .nan, target: "-", met: false))
                }
            }
            await step("api-read") { try await APIScenarios.apiRead(folder, seconds: seconds) }
            await step("api-transition") { try await APIScenarios.apiTransition(folder, count: min(scale, 20_000)) }
            await step("list-scaling") { try await StoreScenarios.listScaling(folder, sizes: sizes, requests: 300) }
            await step("startup") { try await StoreScenarios.startup(folder, count: scale) }
            await step("postgres") {
                try await PostgresScenarios.apiTransition(folder, count: min(scale, 20_000))
                    + StoreScenarios.listScaling(folder, sizes: sizes, requests: 300, onPostgres: true)
            }
            await step("monitor-scale") { try await MonitorScenarios.monitorScale(folder, sizes: sizes, window: Double(seconds * 3)) }
            await step("replicas") { try await ReplicaScenarios.replicas(folder, count: scale, window: Double(seconds * 3)) }
            let text = report(results, keeping: (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
            try text.write(toFile: output, atomically: true, encoding: .utf8)
            print(text)
        }

        /// The table of `results`, after the rows of `earlier` (the file as it was) whose
        /// scenarios did not run now: a run of some scenarios updates their rows only.
        func report(_ results: [Result], keeping earlier: String) -> String {
            let ran = Set(results.map(\.scenario))
            let kept = earlier.split(separator: "\n").map(String.init).filter { line in
                guard line.hasPrefix("| "), !line.hasPrefix("| scenario |"), !line.hasPrefix("|---") else { return false }
                let scenario = line.dropFirst(2).prefix { $0 != "|" }.trimmingCharacters(in: .whitespaces)
                return !ran.contains(scenario)
            }
            let earlierRun = earlier.split(separator: "\n").first { $0.hasPrefix("Written by") }.map(String.init)
            var text = report(results)
            guard !kept.isEmpty else { return text }
            text = text.replacingOccurrences(of: "| scenario | figure | compared with | ratio | target | met |\n|---|---|---|---|---|---|\n",
                                             with: "| scenario | figure | compared with | ratio | target | met |\n|---|---|---|---|---|---|\n"
                                                + kept.joined(separator: "\n") + "\n")
            if let earlierRun {
                // "Written by `scripts/bench` on DATE at commit `X`, on a machine …." → "on DATE at commit `X`, on a machine …"
                let when = earlierRun.replacingOccurrences(of: "Written by `scripts/bench` ", with: "")
                    .trimmingCharacters(in: CharacterSet(charactersIn: "."))
                text = text.replacingOccurrences(of: "\n\n| scenario |", with: "\nRows of scenarios not run this time are kept from the earlier run \(when).\n\n| scenario |")
            }
            return text
        }

        func report(_ results: [Result]) -> String {
            let commit = (try? Tools.run("git", ["rev-parse", "--short", "HEAD"]))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
            let date = ISO8601DateFormatter().string(from: Date())
            var lines = [
                "# Benchmarks", "",
                "Written by `scripts/bench` on \(date) at commit `\(commit)`, on a machine with \(ProcessInfo.processInfo.activeProcessorCount) cores (release build).",
                "Each figure is compared with a ceiling or peer measured in the same run; shared machines are noisy, so read the ratios.", "",
                "| scenario | figure | compared with | ratio | target | met |", "|---|---|---|---|---|---|",
            ]
            for row in results {
                lines.append("| \(row.scenario) | \(row.figure) | \(row.comparedWith) | \(row.ratio.isNaN ? "-" : Tools.format(row.ratio, 2)) | \(row.target) | \(row.met ? "yes" : "**no**") |")
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// A data folder of connected `http` connections pointing at a `targets` farm, for
    /// profiling the server by hand (`perf`, `heaptrack`) outside a benchmark run.
    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Seed a data folder with connections to a target farm (for profiling).")
        @Option var dataDir: String
        @Option var count: Int
        @Option(help: "The port of a `targets` farm serving 127.0.0.1 to 127.0.0.<addresses>.") var farmPort: Int
        @Option var addresses: Int = 16

        func run() async throws {
            try await Seeder.seed(dataDir, count: count) { index in
                (Seeder.kinds[4], .connected, "http://127.0.0.\(index % addresses + 1):\(farmPort)/metrics?target=\(index)")
            }
        }
    }

    /// The target farm's server (started by the monitor benchmark as a separate process).
    struct Targets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve benchmark targets (used by the monitor benchmark).")
        @Option var port: Int
        @Option(help: "The first address served is 127.0.0.<first-address>.") var firstAddress: Int = 1
        @Option var addresses: Int = 16
        @Option var downFile: String

        func run() async throws {
            try await FarmServer.run(port: port, addresses: firstAddress..<(firstAddress + addresses), downFile: downFile)
        }
    }
}
