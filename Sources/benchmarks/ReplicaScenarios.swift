import ConnectionLifecycle
import Foundation
import PostgresNIO
import SwitchboardTestSupport

/// replicas: two `switchboard serve` processes on one PostgreSQL database monitoring N
/// connected targets (every 15 s), against one process alone on the same database in the
/// same run: how evenly the checks split, each replica's CPU per check against the single
/// process's, and how long after one replica is killed every connection has been checked again.
enum ReplicaScenarios {
    static let interval = 15.0
    static let memberTTL = 15.0

    static func replicas(_ folder: TemporaryDirectory, count: Int, window: Double) async throws -> [Result] {
        let farm = try await TargetFarm(folder: folder.path)
        defer { farm.stop() }
        let seeded = folder.file("replicas-\(count)")
        try await Seeder.seed(seeded, count: count) { index in (Seeder.kinds[4], .connected, farm.url(index)) }
        return try await PostgresScenarios.withDatabase(copying: seeded) { database in
            try await measure(folder, seeded: seeded, database: database, count: count, window: window)
        }
    }

    private static func measure(_ folder: TemporaryDirectory, seeded: String, database: PostgresTestDatabase,
                                count: Int, window: Double) async throws -> [Result] {
        // The same key for every replica (the seeded store holds no credential).
        let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        func start(_ id: String) async throws -> ServerProcess {
            try await ServerProcess(
                dataDirectory: id == "single" ? seeded : folder.file("replica-\(id)"), logPath: folder.file("replica-\(id).log"),
                arguments: APIScenarios.serverArguments + [
                    "--database", database.url, "--replica-id", id, "--member-ttl", "\(memberTTL)",
                    "--probe-interval", "\(interval)", "--max-concurrent-probes", "256",
                ],
                environment: ["SWITCHBOARD_SECRETS_KEY": key])
        }
        // The single process's CPU per check, after its first round.
        let single = try await start("single")
        try await Task.sleep(for: .seconds(interval + 5))
        let alone = try await sample([single], window: window)
        _ = single.terminate()

        let one = try await start("a"), two = try await start("b")
        defer {
            _ = one.terminate()
            if two.process.isRunning { _ = two.terminate() }
        }
        // The handover when b joined, then a full round each.
        try await Task.sleep(for: .seconds(interval + 5))
        let pair = try await sample([one, two], window: window)
        let total = pair.map(\.checks).reduce(0, +)
        let shares = pair.map { $0.checks / max(total, 1) }
        let cpuRatios = pair.map { $0.cpuPerCheck / alone[0].cpuPerCheck }

        // Failover: b dies; every connection has been checked again once none has a last
        // check from before the kill.
        let killedAt = Date()
        two.kill()
        let (failover, unchecked) = try await secondsUntilAllCheckedSince(killedAt, database: database, limit: memberTTL + interval + 60)
        let bound = memberTTL + interval
        return [
            Result(scenario: "replicas \(count.formatted()): split",
                   figure: "a \(Tools.format(shares[0] * 100, 1))%, b \(Tools.format(shares[1] * 100, 1))% of \(Tools.format(total)) checks in \(Tools.format(window)) s",
                   comparedWith: "an even split: 50%", ratio: shares[0] / 0.5, target: "each 50 ± 10%",
                   met: shares.allSatisfy { abs($0 - 0.5) <= 0.1 }),
            Result(scenario: "replicas \(count.formatted()): CPU per check",
                   figure: "a \(Tools.format(pair[0].cpuPerCheck * 1e6, 1)) µs, b \(Tools.format(pair[1].cpuPerCheck * 1e6, 1)) µs",
                   comparedWith: "one process alone: \(Tools.format(alone[0].cpuPerCheck * 1e6, 1)) µs", ratio: cpuRatios.max() ?? .nan,
                   target: "each ≤ 1.2", met: cpuRatios.allSatisfy { $0 <= 1.2 }),
            Result(scenario: "replicas \(count.formatted()): failover",
                   figure: failover.isFinite ? "every connection checked again \(Tools.format(failover, 1)) s after one replica was killed"
                       : "\(unchecked.formatted()) connections still without a check \(Tools.format(memberTTL + interval + 60)) s after one replica was killed",
                   comparedWith: "member TTL + one interval: \(Tools.format(bound)) s", ratio: failover / bound,
                   target: "≤ 1", met: failover <= bound),
        ]
    }

    struct Sample {
        var checks: Double
        var cpuPerCheck: Double
    }

    /// Checks and CPU seconds per check of each server over `window` seconds.
    static func sample(_ servers: [ServerProcess], window: Double) async throws -> [Sample] {
        var before: [(checks: Double, cpu: Double)] = []
        for server in servers {
            before.append((try await MonitorScenarios.checks(server), Tools.cpuSeconds(server.process.processIdentifier)))
        }
        try await Task.sleep(for: .seconds(window))
        var samples: [Sample] = []
        for (server, start) in zip(servers, before) {
            let checks = try await MonitorScenarios.checks(server) - start.checks
            let cpu = Tools.cpuSeconds(server.process.processIdentifier) - start.cpu
            samples.append(Sample(checks: checks, cpuPerCheck: checks > 0 ? cpu / checks : .infinity))
        }
        return samples
    }

    /// Seconds from `since` until no stored health record is older than it (infinity after
    /// `limit`), and how many still were at the end.
    static func secondsUntilAllCheckedSince(_ since: Date, database: PostgresTestDatabase,
                                            limit: Double) async throws -> (seconds: Double, unchecked: Int64) {
        let cutoff = since.timeIntervalSince1970 * 1000
        return try await withPostgresClient(database.clientConfiguration) { client in
            var stale: Int64 = -1
            while Date().timeIntervalSince(since) < limit {
                let rows = try await client.query("SELECT count(*) FROM connection_health WHERE checked_at < \(Int64(cutoff))")
                for try await count in rows.decode(Int64.self) { stale = count }
                if stale == 0 { return (Date().timeIntervalSince(since), 0) }
                try await Task.sleep(for: .milliseconds(250))
            }
            return (.infinity, stale)
        }
    }
}
