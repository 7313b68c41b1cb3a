import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import SwitchboardTestSupport

/// monitor-scale and memory: N connected targets checked every 15 s, against Prometheus
/// scraping the same targets at the same interval.
enum MonitorScenarios {
    static let interval = 15.0
    static let threshold = 3

    struct Measured {
        var cpuPerCheck: Double
        var checks: Double
        var worstDetection: Double
        var detected: Int
        var outages: Int
        var residentBytes: Int
    }

    static func monitorScale(_ folder: TemporaryDirectory, sizes: [Int], window: Double) async throws -> [Result] {
        let farm = try await TargetFarm(folder: folder.path)
        defer { farm.stop() }
        var results: [Result] = []
        var idle: Int?
        for size in sizes {
            if idle == nil { idle = try await idleResident(folder) }
            let ours = try await switchboard(folder, farm: farm, count: size, window: window)
            let peer = try await prometheus(folder, farm: farm, count: size, window: window)
            let ratio = ours.cpuPerCheck / peer
            let bound = interval * Double(threshold) + 2
            results.append(Result(
                scenario: "monitor-scale \(size.formatted())",
                figure: "\(Tools.format(ours.cpuPerCheck * 1e6, 1)) µs CPU per check (\(Tools.format(ours.checks)) checks); outages detected \(ours.detected)/\(ours.outages), worst \(Tools.format(ours.worstDetection, 1)) s",
                comparedWith: "Prometheus: \(Tools.format(peer * 1e6, 1)) µs CPU per scrape", ratio: ratio,
                target: "≤ 0.5; detection ≤ \(Tools.format(bound)) s",
                met: ratio <= 0.5 && ours.detected == ours.outages && ours.worstDetection <= bound))
            if size == sizes.last, let idle {
                let perConnection = Double(ours.residentBytes - idle) / Double(size)
                results.append(Result(
                    scenario: "memory", figure: "\(Tools.format(perConnection)) bytes per connection (\(Tools.format(Double(ours.residentBytes) / 1_048_576, 1)) MiB with \(size.formatted()) monitored)",
                    comparedWith: "no connections: \(Tools.format(Double(idle) / 1_048_576, 1)) MiB", ratio: perConnection / 2048,
                    target: "≤ 2 KiB per connection", met: perConnection <= 2048))
            }
        }
        return results
    }

    /// Resident memory of a server with an empty store, settled.
    static func idleResident(_ folder: TemporaryDirectory) async throws -> Int {
        let server = try await ServerProcess(dataDirectory: folder.file("idle"), logPath: folder.file("idle.log"),
                                             arguments: APIScenarios.serverArguments)
        try await Task.sleep(for: .seconds(3))
        _ = try await Tools.request(server, .GET, "/api/integrations/connections")
        let bytes = Tools.residentBytes(server.process.processIdentifier)
        _ = server.terminate()
        return bytes
    }

    static func switchboard(_ folder: TemporaryDirectory, farm: TargetFarm, count: Int, window: Double) async throws -> Measured {
        let data = folder.file("monitor-\(count)")
        let ids = try await Seeder.seed(data, count: count) { index in
            (Seeder.kinds[4], .connected, farm.url(index))
        }
        let server = try await ServerProcess(
            dataDirectory: data, logPath: folder.file("monitor-\(count).log"),
            arguments: APIScenarios.serverArguments + ["--probe-interval", "\(interval)", "--failure-threshold", "\(threshold)",
                                                       "--max-concurrent-probes", "256"])
        defer { _ = server.terminate() }
        let pid = server.process.processIdentifier
        // Let the first round (everything due at once) pass before measuring.
        try await Task.sleep(for: .seconds(interval + 5))
        let checksBefore = try await checks(server)
        let cpuBefore = Tools.cpuSeconds(pid)
        try await Task.sleep(for: .seconds(window))
        let cpu = Tools.cpuSeconds(pid) - cpuBefore
        let checks = try await checks(server) - checksBefore
        let resident = Tools.residentBytes(pid)

        // Outages: 20 targets start failing; each must be disconnected within interval × threshold + 2 s.
        let down = Array(stride(from: 0, to: count, by: max(1, count / 20)).prefix(20))
        let outageStart = Date()
        try farm.takeDown(down)
        let bound = interval * Double(threshold) + 2
        var detectedAt: [Int: Date] = [:]
        while Date().timeIntervalSince(outageStart) < bound + 10, detectedAt.count < down.count {
            for index in down where detectedAt[index] == nil {
                let answer = try await Tools.request(server, .GET, "/api/integrations/connections/\(ids[index].lowercasedString)")
                let connection = Tools.json(answer.body)
                if connection["status"] as? String == "disconnected" {
                    let formatter = ISO8601DateFormatter()
                    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                    detectedAt[index] = (connection["updatedAt"] as? String).flatMap(formatter.date(from:)) ?? Date()
                }
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        try farm.takeDown([])
        let worst = detectedAt.values.map { $0.timeIntervalSince(outageStart) }.max() ?? .infinity
        return Measured(cpuPerCheck: checks > 0 ? cpu / checks : .infinity, checks: checks, worstDetection: worst,
                        detected: detectedAt.count, outages: down.count, residentBytes: resident)
    }

    /// Completed checks so far, from the server's own `/metrics`.
    static func checks(_ server: ServerProcess) async throws -> Double {
        let text = String(decoding: try await Tools.request(server, .GET, "/metrics").body, as: UTF8.self)
        return text.split(separator: "\n")
            .filter { $0.hasPrefix("switchboard_probe_duration_seconds_count") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }
            .reduce(0, +)
    }

    /// Prometheus's CPU seconds per scrape of the same targets at the same interval.
    static func prometheus(_ folder: TemporaryDirectory, farm: TargetFarm, count: Int, window: Double) async throws -> Double {
        let directory = folder.file("prometheus-\(count)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // One target per connection: same address and path, told apart by its `target` parameter.
        let groups = (0..<count).map { index in
            #"{"targets": ["\#(farm.address(index))"], "labels": {"__param_target": "\#(index)"}}"#
        }
        try "[\(groups.joined(separator: ",\n"))]".write(toFile: directory + "/targets.json", atomically: true, encoding: .utf8)
        try """
            global: {scrape_interval: \(Int(interval))s, scrape_timeout: 5s}
            scrape_configs:
              - job_name: farm
                file_sd_configs: [{files: ['\(directory)/targets.json']}]
            """.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        let port = try freeLoopbackPort()
        let server = try await ExternalServer(
            executable: "prometheus",
            arguments: ["--config.file=\(directory)/prometheus.yml", "--web.listen-address=127.0.0.1:\(port)",
                        "--storage.tsdb.path=\(directory)/data", "--log.level=warn"],
            port: port, logPath: directory + "/prometheus.log", readyPath: "/-/ready")
        defer { server.stop() }
        guard let pid = pidOf(port: port) else { throw ServerProcessError("no Prometheus process") }
        try await Task.sleep(for: .seconds(interval + 5))
        let cpuBefore = Tools.cpuSeconds(pid)
        let scrapesBefore = try await scrapes(port)
        try await Task.sleep(for: .seconds(window))
        let cpu = Tools.cpuSeconds(pid) - cpuBefore
        let scrapes = try await scrapes(port) - scrapesBefore
        return scrapes > 0 ? cpu / scrapes : .infinity
    }

    static func pidOf(port: Int) -> Int32? {
        let output = (try? Tools.run("pgrep", ["-f", "web.listen-address=127.0.0.1:\(port)"])) ?? ""
        return output.split(separator: "\n").first.flatMap { Int32($0) }
    }

    /// Scrapes Prometheus has completed, from its own metrics.
    static func scrapes(_ port: Int) async throws -> Double {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 64 << 20))
        return text.split(separator: "\n")
            .filter { $0.hasPrefix("prometheus_target_interval_length_seconds_count") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }
            .reduce(0, +)
    }
}
