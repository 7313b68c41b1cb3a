import ConnectionLifecycle
import Foundation
import Hummingbird
import SwitchboardEngine
import StoreContract
import SwitchboardTestSupport
import Synchronization
import Testing

/// A thousand broken targets (silent, dripping a byte a second, resetting, presenting an
/// expired certificate) must not delay the checks of healthy connections: the monitor
/// keeps their interval. The server starts as after a restart, knowing from its stored
/// health which targets were failing. Real sockets on loopback; the targets are small NIO
/// servers.
@Suite struct BrokenTargetsMonitorTests {
    static let interval = 4.0
    static let healthy = 40
    static let brokenPerKind = 250

    @Test func healthyChecksKeepTheirIntervalBesideAThousandBrokenTargets() async throws {
        let broken = try await BrokenTargets.start()
        let arrivals = Arrivals()
        let router = Router()
        router.get("healthy/{name}") { _, context in
            arrivals.record(context.parameters.get("name") ?? "", at: ContinuousClock.now)
            return "ok"
        }
        let healthyServer = try await LiveServer.start(router: router)
        let policy = HealthPolicy(interval: .seconds(Self.interval), registeredInterval: .seconds(Self.interval),
                                  timeout: .seconds(2), failureThreshold: 3, recoveryThreshold: 2, maxBackoff: .seconds(30))
        let kind = try #require(KindCatalog.builtIn["http"])
        let checks = try await MonitorHarness.run(policy: policy, maxConcurrentProbes: 256, jitter: 0, prepare: { store in
            for index in 0..<Self.healthy {
                try await Seeding.connection(in: store, kind: kind, status: .connected, name: "healthy-\(index)",
                                             url: "http://127.0.0.1:\(healthyServer.port)/healthy/\(index)")
            }
            for brokenKind in BrokenTargets.Kind.allCases {
                for index in 0..<Self.brokenPerKind {
                    let connection = try await Seeding.connection(in: store, kind: kind, status: .connected, name: "\(brokenKind)-\(index)",
                                                                  url: broken.url(brokenKind, path: "broken-\(index)"))
                    try await store.saveHealth([HealthRecord(connectionId: connection.id).recording(
                        .unreachable, error: "failing before the restart", latencyMilliseconds: 2000, at: Date())])
                }
            }
        }) { harness in
            // Long enough for every healthy connection to be checked at least three times.
            try await Task.sleep(for: .seconds(Self.interval * 4 + 1))
            return await harness.monitor.checksCompleted
        }
        await healthyServer.stop()
        await broken.stop()

        // Every broken target was checked (and failed) while the healthy ones kept time.
        #expect(checks >= Self.brokenPerKind * BrokenTargets.Kind.allCases.count)
        let gaps = arrivals.gaps()
        #expect(gaps.count == Self.healthy, "every healthy connection was checked more than once")
        let lateness = gaps.values.flatMap { $0 }.map { $0 - Self.interval }
        let worst = lateness.max() ?? .infinity
        let sorted = lateness.sorted()
        print("healthy check lateness: median \(sorted[sorted.count / 2]) s, worst \(worst) s over \(lateness.count) intervals; \(checks) checks")
        #expect(lateness.count >= Self.healthy * 2)
        #expect(worst < 1.0, "healthy checks came up to \(worst) s late")
    }
}

/// When each healthy connection's checks arrived.
final class Arrivals: Sendable {
    private let times = Mutex<[String: [ContinuousClock.Instant]]>([:])

    func record(_ name: String, at instant: ContinuousClock.Instant) {
        times.withLock { $0[name, default: []].append(instant) }
    }

    /// Seconds between consecutive checks, per connection.
    func gaps() -> [String: [Double]] {
        times.withLock { times in
            times.compactMapValues { instants in
                guard instants.count > 1 else { return nil }
                return zip(instants.dropFirst(), instants).map { later, earlier in
                    let duration = later - earlier
                    return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
                }
            }
        }
    }
}
