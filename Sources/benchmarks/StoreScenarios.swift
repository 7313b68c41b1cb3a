import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import SwitchboardTestSupport

/// list-scaling and startup: how the server behaves as its store grows.
enum StoreScenarios {
    /// The data folder with `count` quiet connections, seeded once and shared by both scenarios.
    static func store(_ folder: TemporaryDirectory, count: Int) async throws -> String {
        let path = folder.file("store-\(count)")
        if !FileManager.default.fileExists(atPath: path + "/switchboard.sqlite") {
            try await Seeder.seed(path, count: count, shape: Seeder.listMix)
        }
        return path
    }

    /// p50 and p99 of a filtered, sorted page (status + kind + search, 50 per page) at each
    /// size; the ratio is p99 against p99 at the smallest size. The filter matches the same
    /// `Seeder.listAnswer` connections at every size, so every size serves the same full pages
    /// and only the store around them grows (a filter matching a fixed share would compare a
    /// four-row page at 1k with a fifty-row page at 100k).
    ///
    /// On PostgreSQL (`onPostgres`), each size's store is copied into a database of its own on
    /// the run's cluster and the server runs with `--database`.
    static func listScaling(_ folder: TemporaryDirectory, sizes: [Int], requests: Int,
                            onPostgres: Bool = false) async throws -> [Result] {
        var results: [Result] = []
        var baseline: Double?
        for size in sizes {
            let data = try await store(folder, count: size)
            let database = onPostgres ? try await PostgresScenarios.database(copying: data) : nil
            let server = try await ServerProcess(
                dataDirectory: data, logPath: folder.file("list-\(onPostgres ? "pg-" : "")\(size).log"),
                arguments: APIScenarios.serverArguments + (database.map { ["--database", $0.url] } ?? []))
            func path(_ index: Int) -> String {
                "/api/integrations/connections?status=maintenance&kind=prometheus&search=edge&order=name%20asc&pageSize=50&page=\(index % 3)"
            }
            for index in 0..<20 { _ = try await Tools.request(server, .GET, path(index)) }
            var latencies: [Double] = []
            for index in 0..<requests {
                let start = ContinuousClock.now
                let answer = try await Tools.request(server, .GET, path(index))
                latencies.append((ContinuousClock.now - start).seconds * 1000)
                guard answer.status == 200 else { throw ServerProcessError("list answered \(answer.status)") }
                if index == 0 { try expectFullPage(answer.body) }
            }
            _ = server.terminate()
            try await database?.drop()
            let p50 = Tools.percentile(latencies, 0.5)
            let p99 = Tools.percentile(latencies, 0.99)
            let reference = baseline ?? p99
            baseline = reference
            let isLargest = size == sizes.last
            results.append(Result(
                scenario: "list-scaling \(onPostgres ? "on PostgreSQL " : "")\(size.formatted())", figure: "p50 \(Tools.format(p50, 2)) ms, p99 \(Tools.format(p99, 2)) ms",
                comparedWith: "p99 at \(sizes[0].formatted()): \(Tools.format(reference, 2)) ms", ratio: p99 / reference,
                target: isLargest ? "≤ 3" : "-", met: !isLargest || p99 / reference <= 3))
        }
        return results
    }

    /// Fails the run unless a list answer is a full page out of exactly `Seeder.listAnswer`
    /// matches, so the sizes are compared on equal work.
    static func expectFullPage(_ body: Data) throws {
        struct Page: Decodable {
            var connections: [Ignored]
            var totalCount: Int
            struct Ignored: Decodable {}
        }
        let page = try JSONDecoder().decode(Page.self, from: body)
        guard page.connections.count == 50, page.totalCount == Seeder.listAnswer else {
            throw ServerProcessError("list page held \(page.connections.count) of \(page.totalCount) matches, expected 50 of \(Seeder.listAnswer)")
        }
    }

    /// Time from process start to `/readyz` answering 200, with `count` connections on disk
    /// and with an empty store; the median of three starts each.
    static func startup(_ folder: TemporaryDirectory, count: Int) async throws -> [Result] {
        let full = try await store(folder, count: count)
        func timeToReady(_ data: String) async throws -> Double {
            var times: [Double] = []
            for run in 0..<3 {
                let start = ContinuousClock.now
                let server = try await ServerProcess(dataDirectory: data, logPath: folder.file("startup-\(run).log"),
                                                     arguments: APIScenarios.serverArguments)
                try await waitUntil(timeout: .seconds(120), "readyz") {
                    (try? await Tools.request(server, .GET, "/readyz").status) == 200
                }
                times.append((ContinuousClock.now - start).seconds)
                _ = server.terminate()
            }
            return Tools.median(times)
        }
        let empty = folder.file("startup-empty")
        let emptyTime = try await timeToReady(empty)
        let fullTime = try await timeToReady(full)
        return [Result(scenario: "startup", figure: "\(Tools.format(fullTime * 1000)) ms to ready with \(count.formatted()) connections",
                       comparedWith: "empty store: \(Tools.format(emptyTime * 1000)) ms", ratio: fullTime / emptyTime,
                       target: "≤ 3", met: fullTime / emptyTime <= 3)]
    }
}
