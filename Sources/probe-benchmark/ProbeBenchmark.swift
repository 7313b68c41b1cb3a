import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import Logging
import SwitchboardDrivers
import SwitchboardEngine
import SwitchboardStorage
import SwitchboardTestSupport

/// Measures the health monitor's probe throughput: N connected connections against one
/// local HTTP target, every connection due every second, for a fixed time. The ceiling,
/// measured in the same run, is plain GETs of the same target through the same HTTP client
/// at the same concurrency, with no monitor, store or engine. Prints both and the ratio.
///
///     swift run -c release probe-benchmark [connections] [seconds]
@main
struct ProbeBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst().compactMap(Int.init)
        let connections = arguments.first ?? 1000
        let seconds = arguments.dropFirst().first ?? 10
        let concurrency = 256
        var logger = Logger(label: "probe-benchmark")
        logger.logLevel = .error

        let target = try await StandInHTTPServer.start()
        let folder = try TemporaryDirectory(prefix: "probe-benchmark")
        defer { folder.remove() }
        let client = OutboundHTTP.makeClient()

        // The ceiling: the same requests, nothing else.
        let ceiling = try await measure(seconds: seconds) {
            await withTaskGroup(of: Int.self) { group in
                let deadline = ContinuousClock.now + .seconds(seconds)
                for _ in 0..<concurrency {
                    group.addTask {
                        var done = 0
                        while ContinuousClock.now < deadline {
                            var request = HTTPClientRequest(url: target.reachableURL)
                            request.method = .GET
                            if let response = try? await client.execute(request, timeout: .seconds(5)) {
                                _ = try? await response.body.collect(upTo: 64 * 1024)
                                done += 1
                            }
                        }
                        return done
                    }
                }
                return await group.reduce(0, +)
            }
        }

        // The monitor: every connection due every second.
        let store = try SQLiteConnectionStore(path: folder.file("switchboard.sqlite"))
        let kind = KindCatalog.builtIn["http"]!
        var batch: [(Connection, LifecycleEvent)] = []
        let now = Date().truncatedToMilliseconds
        for index in 0..<connections {
            let connection = Connection(name: "target-\(index)", url: target.reachableURL, kind: kind.name, type: kind.type,
                                        subType: kind.subType, status: .connected, createdAt: now, updatedAt: now)
            batch.append((connection, LifecycleEvent(connectionId: connection.id, from: nil, to: .connected, actor: "benchmark",
                                                     actorRole: .user, reason: nil, correlationId: UUID(), at: now)))
        }
        try await store.insert(contentsOf: batch)
        let drivers = DriverCatalog.builtIn(http: OutboundHTTP(client: client), credentials: FileReferenceCredentials(),
                                            timeout: .seconds(5))
        let engine = ConnectionEngine(store: store, drivers: drivers, logger: logger)
        let policy = HealthPolicy(interval: .seconds(1), registeredInterval: .seconds(1), timeout: .seconds(5))
        let monitor = HealthMonitor(engine: engine, configuration: .init(policy: policy, maxConcurrentProbes: concurrency),
                                    logger: logger)
        let running = Task { try await monitor.run() }
        // Let the first round (spread over one interval) start before measuring.
        try await Task.sleep(for: .seconds(1))
        let before = await monitor.checksCompleted
        let monitored = try await measure(seconds: seconds) {
            try? await Task.sleep(for: .seconds(seconds))
            return await monitor.checksCompleted - before
        }
        running.cancel()
        _ = try? await running.value
        try await client.shutdown()
        await target.stop()

        let demand = Double(connections)  // checks per second the schedule asks for
        print("probe throughput, \(connections) connections due every 1 s, \(seconds) s, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print(String(format: "  ceiling (plain GETs, %d concurrent): %8.0f requests/s  %6.1f µs CPU per request",
                     concurrency, ceiling.perSecond, ceiling.cpuMicrosecondsPerUnit))
        print(String(format: "  health monitor:                     %8.0f checks/s    %6.1f µs CPU per check  (%.0f%% of the %0.f/s the schedule asks for)",
                     monitored.perSecond, monitored.cpuMicrosecondsPerUnit, 100 * monitored.perSecond / demand, demand))
        print(String(format: "  ratio monitor / ceiling: %.2f (throughput), %.2f (CPU per unit)",
                     monitored.perSecond / ceiling.perSecond, monitored.cpuMicrosecondsPerUnit / ceiling.cpuMicrosecondsPerUnit))
    }

    struct Measurement {
        var units: Int
        var seconds: Double
        var cpuSeconds: Double
        var perSecond: Double { Double(units) / seconds }
        var cpuMicrosecondsPerUnit: Double { units == 0 ? 0 : cpuSeconds * 1e6 / Double(units) }
    }

    /// Wall time and this process's CPU time (user + system) around `body`.
    static func measure(seconds: Int, _ body: @Sendable () async throws -> Int) async throws -> Measurement {
        let cpuBefore = cpuTime()
        let start = ContinuousClock.now
        let units = try await body()
        let elapsed = ContinuousClock.now - start
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Measurement(units: units, seconds: wall, cpuSeconds: cpuTime() - cpuBefore)
    }

    static func cpuTime() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
