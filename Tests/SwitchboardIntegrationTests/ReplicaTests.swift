import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardTestSupport
import Synchronization
import Testing

/// Several real `switchboard serve` processes on one real PostgreSQL database, checking a
/// farm of HTTP targets (`ProbeFarm`, which records which replica sent each check). Fails
/// (not skips) under `CI` without PostgreSQL.
@Suite(.enabled(if: PostgresTestDatabase.shouldRun), .serialized) struct ReplicaTests {
    /// Three replicas: every connection is probed by exactly one of them, the split is even,
    /// a change made through one is read back through another every time, and a change
    /// stream resumed on a third replica misses nothing.
    @Test func threeReplicasShareTheChecksAndAgree() async throws {
        try await ReplicaCluster.with { cluster in
            for id in ["r1", "r2", "r3"] { try await cluster.start(id) }
            try await cluster.waitForMembers(["r1", "r2", "r3"])
            let ids = try await cluster.createConnections(300)
            // Settle: every replica has loaded its share and checked it once.
            try await Task.sleep(for: .seconds(3))
            cluster.farm.resetChecks()
            try await Task.sleep(for: .seconds(4))
            let checks = cluster.farm.checks
            let owners = Dictionary(grouping: checks, by: \.target).mapValues { Set($0.map(\.replica)) }
            #expect(owners.count == 300, "every target was checked in 4 s: \(owners.count) of 300")
            let shared = owners.filter { $0.value.count > 1 }
            #expect(shared.isEmpty, "each connection is checked by one replica: \(shared.count) by several, e.g. \(shared.first.map { "\($0.key): \($0.value)" } ?? "")")
            var split: [String: Int] = [:]
            for replicas in owners.values { for replica in replicas { split[replica, default: 0] += 1 } }
            for replica in ["r1", "r2", "r3"] {
                #expect((80...120).contains(split[replica, default: 0]), "within 20% of an even split: \(split)")
            }
            let listed = try await cluster.replicasAnswer(from: "r2")
            #expect(listed.map(\.id) == ["r1", "r2", "r3"] && listed.map(\.owned).reduce(0, +) == 300,
                    "GET /api/system/replicas lists the members and what each owns: \(listed)")

            try await cluster.readYourWrites(ids, rounds: 1000)
            try await cluster.streamResumesOnAnotherReplica(ids)
        }
    }

    /// 1 → 3 → 1: every connection stays checked, and when members change only the
    /// connections that must move do (to a member that joined, or away from one that left).
    @Test func scalingUpAndDownMovesOnlyWhatMust() async throws {
        try await ReplicaCluster.with { cluster in
            try await cluster.start("r1")
            try await cluster.waitForMembers(["r1"])
            _ = try await cluster.createConnections(150)
            let alone = try await cluster.settledOwners(expecting: 150)
            #expect(Set(alone.values) == ["r1"], "one replica checks everything")

            try await cluster.start("r2")
            try await cluster.start("r3")
            try await cluster.waitForMembers(["r1", "r2", "r3"])
            let three = try await cluster.settledOwners(expecting: 150)
            #expect(Set(three.values) == ["r1", "r2", "r3"], "each replica took a share")
            let kept = three.filter { $0.value == "r1" }.count
            #expect(alone.keys.allSatisfy { three[$0] == "r1" || ["r2", "r3"].contains(three[$0] ?? "") },
                    "connections moved only to the replicas that joined")
            #expect(kept > 20 && kept < 80, "r1 kept about a third: \(kept)")

            #expect(await cluster.stop("r2") == 0)
            #expect(await cluster.stop("r3") == 0)
            try await cluster.waitForMembers(["r1"])
            let back = try await cluster.settledOwners(expecting: 150)
            #expect(Set(back.values) == ["r1"], "the last replica checks everything again")
        }
    }
}

/// Replicas of one PostgreSQL database, each with a data folder of its own and the same
/// secrets key, checking a `ProbeFarm` on a fast schedule (1 s interval, 3 s member TTL).
final class ReplicaCluster: @unchecked Sendable {
    let database: PostgresTestDatabase
    let folder: TemporaryDirectory
    let farm: ProbeFarm
    /// Shared: credentials sealed by one replica open on every other.
    let secretsKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    private(set) var servers: [String: ServerProcess] = [:]
    private(set) var token = ""

    private init(database: PostgresTestDatabase, folder: TemporaryDirectory, farm: ProbeFarm) {
        self.database = database
        self.folder = folder
        self.farm = farm
    }

    static func with(_ body: (ReplicaCluster) async throws -> Void) async throws {
        try await PostgresTestDatabase.with { database in
            let folder = try TemporaryDirectory()
            let farm = try await ProbeFarm.start()
            let cluster = ReplicaCluster(database: database, folder: folder, farm: farm)
            do {
                try await body(cluster)
            } catch {
                cluster.attachLogs()
                await cluster.stopAll()
                await farm.stop()
                folder.remove()
                throw error
            }
            await cluster.stopAll()
            await farm.stop()
            folder.remove()
        }
    }

    func start(_ id: String) async throws {
        let server = try await ServerProcess(
            dataDirectory: folder.file("data-\(id)"), logPath: folder.file("\(id).log"),
            arguments: ["--database", database.url, "--replica-id", id, "--member-ttl", "3",
                        "--probe-interval", "1", "--probe-registered-interval", "1", "--probe-timeout", "1"],
            environment: ["SWITCHBOARD_SECRETS_KEY": secretsKey])
        // The first replica makes the admin token; the others find one made.
        if token.isEmpty { token = server.adminToken }
        servers[id] = server
    }

    func stop(_ id: String) async -> Int32? {
        guard let server = servers.removeValue(forKey: id) else { return nil }
        return await server.stop(within: .seconds(30))
    }

    func stopAll() async {
        for id in Array(servers.keys) { _ = await stop(id) }
    }

    func server(_ id: String) throws -> ServerProcess {
        guard let server = servers[id] else { throw ServerProcessError("no replica \(id) is running") }
        return server
    }

    func request(_ id: String, _ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> (status: UInt, json: [String: Any]) {
        let (status, data) = try await server(id).request(method, path, body: body, token: token)
        return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    struct Listed: CustomStringConvertible {
        var id: String
        var owned: Int
        var description: String { "\(id): \(owned)" }
    }

    func replicasAnswer(from id: String) async throws -> [Listed] {
        let (status, json) = try await request(id, .GET, "/api/system/replicas")
        guard status == 200, let replicas = json["replicas"] as? [[String: Any]] else {
            throw ServerProcessError("GET /api/system/replicas answered \(status): \(json)")
        }
        return replicas.map { Listed(id: $0["id"] as? String ?? "", owned: $0["ownedConnections"] as? Int ?? -1) }
    }

    /// Until every running replica lists exactly `ids`.
    func waitForMembers(_ ids: [String]) async throws {
        try await waitUntil(timeout: .seconds(20), "the replicas list \(ids)") {
            for id in servers.keys where try await replicasAnswer(from: id).map(\.id) != ids { return false }
            return true
        }
    }

    /// `count` http connections to the farm's targets, registered (so the monitor checks
    /// them), made through the replicas in turn.
    func createConnections(_ count: Int) async throws -> [String] {
        let replicas = servers.keys.sorted()
        return try await withThrowingTaskGroup(of: String.self) { group in
            for target in 0..<count {
                let via = replicas[target % replicas.count]
                group.addTask {
                    let (status, json) = try await self.request(via, .POST, "/api/integrations/connections", body: """
                        {"name": "target-\(target)", "kind": "http", "url": "\(self.farm.url(target))", "status": "registered"}
                        """)
                    guard status == 201, let id = json["id"] as? String else {
                        throw ServerProcessError("creating target \(target) through \(via) answered \(status): \(json)")
                    }
                    return id
                }
                if target % 8 == 7 { _ = try await group.next() }
            }
            var ids: [String] = []
            for try await id in group { ids.append(id) }
            return ids
        }
    }

    /// Which replica checked each target in a 3 s window, once every target has exactly one
    /// (at most 20 s after the members last changed).
    func settledOwners(expecting count: Int) async throws -> [Int: String] {
        var owners: [Int: Set<String>] = [:]
        try await waitUntil(timeout: .seconds(20), "each of \(count) targets checked by one replica") {
            farm.resetChecks()
            try await Task.sleep(for: .seconds(3))
            owners = Dictionary(grouping: farm.checks, by: \.target).mapValues { Set($0.map(\.replica)) }
            return owners.count == count && owners.values.allSatisfy { $0.count == 1 }
        }
        return owners.compactMapValues(\.first)
    }

    /// A transition through one replica, then a read through the next: the read always
    /// shows the transition.
    func readYourWrites(_ ids: [String], rounds: Int) async throws {
        let replicas = servers.keys.sorted()
        var stale: [String] = []
        for round in 0..<rounds {
            let id = ids[round % ids.count]
            let writer = replicas[round % replicas.count], reader = replicas[(round + 1) % replicas.count]
            let (_, before) = try await request(writer, .GET, "/api/integrations/connections/\(id)")
            let to = before["status"] as? String == "maintenance" ? "connected" : "maintenance"
            let (moved, answer) = try await request(writer, .POST, "/api/integrations/connections/\(id)/transitions",
                                                    body: #"{"status": "\#(to)"}"#)
            guard moved == 200 else { throw ServerProcessError("moving \(id) to \(to) through \(writer): \(moved) \(answer)") }
            let (_, read) = try await request(reader, .GET, "/api/integrations/connections/\(id)")
            if read["status"] as? String != to || (read["version"] as? Int).map({ $0 < answer["version"] as? Int ?? 0 }) == true {
                stale.append("round \(round): \(writer) moved \(id) to \(to), \(reader) read \(read["status"] ?? "nothing")")
            }
        }
        #expect(stale.isEmpty, "never stale across replicas; \(stale.count) of \(rounds) were: \(stale.prefix(3))")
    }

    /// A stream on one replica sees changes made through another; resumed on a third with
    /// `Last-Event-ID`, it misses nothing and repeats nothing.
    func streamResumesOnAnotherReplica(_ ids: [String]) async throws {
        let first = try server("r2"), second = try server("r3")
        let start = try await latestEventId()
        var seen: [Int64] = []
        let stream1 = Task { try await Self.readEvents(first, token: token, after: start, count: 10) }
        try await Task.sleep(for: .milliseconds(500))
        try await changeSome(ids, count: 20, via: "r1")
        seen += try await stream1.value
        #expect(seen.count == 10)
        let resumeAfter = try #require(seen.last)
        seen += try await Self.readEvents(second, token: token, after: resumeAfter, count: 10)
        let expected = try await eventIds(after: start)
        #expect(seen == Array(expected.prefix(20)), "the two streams together gave every event once, in order")
    }

    private func changeSome(_ ids: [String], count: Int, via replica: String) async throws {
        for id in ids.prefix(count) {
            let (_, before) = try await request(replica, .GET, "/api/integrations/connections/\(id)")
            let to = before["status"] as? String == "maintenance" ? "connected" : "maintenance"
            let (status, body) = try await request(replica, .POST, "/api/integrations/connections/\(id)/transitions",
                                                   body: #"{"status": "\#(to)"}"#)
            guard status == 200 else { throw ServerProcessError("moving \(id) to \(to): \(status) \(body)") }
        }
    }

    private func latestEventId() async throws -> Int64 {
        try await eventIds(after: 0).last ?? 0
    }

    /// Event ids after `after` in the store, in order (one stream read from the start to now).
    private func eventIds(after: Int64) async throws -> [Int64] {
        var ids: [Int64] = []
        var position = after
        while true {
            let page = try await Self.readEvents(try server("r1"), token: token, after: position, count: 500, idle: .seconds(1))
            ids += page
            guard let last = page.last, page.count == 500 else { return ids }
            position = last
        }
    }

    /// Reads `count` event ids from `server`'s change stream after `after` (or those that
    /// come before `idle` passes without one).
    static func readEvents(_ server: ServerProcess, token: String, after: Int64, count: Int,
                           idle: Duration = .seconds(15)) async throws -> [Int64] {
        var request = HTTPClientRequest(url: server.address + "/api/events/stream")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Last-Event-ID", value: "\(after)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let collected = Mutex<[Int64]>([])
        let reading = Task {
            var text = ""
            for try await chunk in response.body {
                text += String(buffer: chunk)
                while let end = text.range(of: "\n\n") {
                    let message = String(text[..<end.lowerBound])
                    text = String(text[end.upperBound...])
                    if message.contains("event: "), let line = message.split(separator: "\n").first(where: { $0.hasPrefix("id: ") }),
                       let id = Int64(line.dropFirst(4)) {
                        if collected.withLock({ $0.append(id); return $0.count }) == count { return }
                    }
                }
            }
        }
        let timer = Task {
            try await Task.sleep(for: idle)
            reading.cancel()
        }
        _ = try? await reading.value
        timer.cancel()
        return collected.withLock { $0 }
    }

    func attachLogs() {
        for id in servers.keys.sorted() {
            let log = (try? String(contentsOfFile: folder.file("\(id).log"), encoding: .utf8)) ?? ""
            Issue.record("log of \(id) (last 3000 characters): \(log.suffix(3000))")
        }
    }
}
