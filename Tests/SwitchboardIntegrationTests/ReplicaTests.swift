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
            try await cluster.revocationHoldsOnEveryReplica()
        }
    }

    /// 60 s of chaos: replicas are killed with SIGKILL and started again at random while
    /// clients write transitions through all of them and targets go down and come back.
    /// Afterwards no acknowledged write is missing, every status is the replay of its events,
    /// no event is there twice, every outage became `disconnected` within the damping bound
    /// plus one member TTL, and no connection went longer than the member TTL plus two probe
    /// intervals without a check.
    @Test func killingReplicasAtRandomLosesNothingAndLeavesNothingUnchecked() async throws {
        try await ReplicaCluster.with { cluster in
            for id in ["r1", "r2", "r3"] { try await cluster.start(id) }
            try await cluster.waitForMembers(["r1", "r2", "r3"])
            // Targets 0..<90 are watched (connected, never moved by a person); 90..<102 are
            // the clients' (moved between connected and maintenance).
            let watched = try await cluster.createConnections(90, status: "connected")
            let written = try await cluster.createConnections(12, from: 90, status: "connected")
            try await Task.sleep(for: .seconds(2))
            let chaosStart = ContinuousClock.now
            cluster.farm.resetChecks()
            let writes = Task { try await cluster.writeTransitions(written, until: chaosStart + .seconds(60)) }
            let outages = Task { try await cluster.takeTargetsDown(0..<90, until: chaosStart + .seconds(60)) }
            var kills = 0
            while ContinuousClock.now < chaosStart + .seconds(60) {
                // A kill every 4 to 9 s with the restart (which waits for the replica's address).
                try await Task.sleep(for: .milliseconds(Int.random(in: 2000...4000)))
                let victim = try #require(["r1", "r2", "r3"].filter { cluster.liveIds.contains($0) }.randomElement())
                cluster.kill(victim)
                kills += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 500...3000)))
                try await cluster.start(victim)
            }
            let acknowledged = try await writes.value
            let downs = try await outages.value
            let checks = cluster.farm.checks
            try await cluster.waitForMembers(["r1", "r2", "r3"])
            #expect(kills >= 6 && acknowledged.count > 100, "enough chaos to prove something: \(kills) kills, \(acknowledged.count) writes")

            // Nothing acknowledged is missing; every status is the replay of its events; no event twice.
            var sequences = Set<Int64>()
            var disconnectedAt: [String: [Date]] = [:]
            for id in watched + written {
                let (status, history) = try await cluster.history(id)
                var replayed: String?
                for event in history {
                    #expect(sequences.insert(event.sequence).inserted, "event \(event.sequence) appears twice")
                    #expect(event.from == replayed, "broken chain in \(id): \(event.from ?? "none") after \(replayed ?? "none")")
                    replayed = event.to
                    if event.to == "disconnected" { disconnectedAt[id, default: []].append(event.createdAt) }
                }
                #expect(replayed == status, "the status of \(id) is the replay of its events")
                let logged = Set(history.map(\.correlationId))
                for ack in acknowledged where ack.connectionId == id {
                    #expect(logged.contains(ack.correlationId), "acknowledged move of \(id) to \(ack.status) is missing")
                }
            }

            // Each outage (10 s) became disconnected within 3 checks of 1 s, a 1 s timeout and a 3 s TTL.
            let bound = 3.0 + 1 + 3
            var slowest = 0.0
            for down in downs {
                let wentDown = down.start
                let seen = disconnectedAt[watched[down.target], default: []].first { $0 >= wentDown && $0 <= down.end.addingTimeInterval(2) }
                let after = seen.map { $0.timeIntervalSince(wentDown) }
                #expect(after != nil, "the outage of target \(down.target) from \(down.start) never became disconnected")
                slowest = max(slowest, after ?? 0)
            }
            #expect(slowest <= bound, "every outage became disconnected within \(bound) s; the slowest took \(slowest) s")

            // No watched connection went unchecked longer than TTL + two intervals.
            var longest = (gap: Duration.zero, target: -1)
            for (target, seen) in Dictionary(grouping: checks.filter { $0.target < 90 }, by: \.target) {
                let times = seen.map(\.at).sorted()
                for (earlier, later) in zip(times, times.dropFirst()) where later - earlier > longest.gap {
                    longest = (later - earlier, target)
                }
            }
            #expect(longest.gap <= .seconds(5), "longest gap between checks: \(longest.gap) (target \(longest.target))")
            print("chaos: \(kills) kills, \(acknowledged.count) acknowledged writes, \(downs.count) outages, slowest to disconnected \(slowest) s, longest gap between checks \(longest.gap)")
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

            cluster.farm.resetChecks()
            try await cluster.start("r2")
            try await cluster.start("r3")
            try await cluster.waitForMembers(["r1", "r2", "r3"])
            let three = try await cluster.settledOwners(expecting: 150, keepingChecks: true)
            let upChecks = cluster.farm.checks
            let upMoves = ReplicaCluster.ownerChanges(upChecks)
            let flapping = upMoves.filter { $0.value > 2 }.keys.sorted()
            #expect(flapping.isEmpty,
                    "two replicas joined: no connection changed owner more than twice; \(flapping.count) did, e.g. \(ReplicaCluster.sequence(of: flapping.first, in: upChecks))")
            #expect(Set(three.values) == ["r1", "r2", "r3"], "each replica took a share")
            let kept = three.filter { $0.value == "r1" }.count
            #expect(alone.keys.allSatisfy { three[$0] == "r1" || ["r2", "r3"].contains(three[$0] ?? "") },
                    "connections moved only to the replicas that joined")
            #expect(kept > 20 && kept < 80, "r1 kept about a third: \(kept)")

            cluster.farm.resetChecks()
            #expect(await cluster.stop("r2") == 0)
            #expect(await cluster.stop("r3") == 0)
            try await cluster.waitForMembers(["r1"])
            let back = try await cluster.settledOwners(expecting: 150, keepingChecks: true)
            let downMoves = ReplicaCluster.ownerChanges(cluster.farm.checks)
            #expect(downMoves.values.allSatisfy { $0 <= 1 },
                    "each connection changed owner at most once as two replicas left: \(downMoves.filter { $0.value > 1 }.count) did more")
            #expect(Set(back.values) == ["r1"], "the last replica checks everything again")

            // A replica started without the others' key says so at start.
            let (made, _) = try await cluster.request("r1", .POST, "/api/integrations/credentials",
                                                      body: #"{"name": "shared", "type": "token", "secret": {"token": "t"}}"#)
            #expect(made == 201)
            try await cluster.start("keyless", secretsKey: Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString())
            let log = try String(contentsOfFile: cluster.folder.file("keyless.log"), encoding: .utf8)
            #expect(log.contains("sealed with keys this server does not have"), "\(log.suffix(2000))")
        }
    }

    /// A replica killed with SIGKILL is gone as soon as PostgreSQL sees its connections close
    /// (its liveness lock is released), not a member TTL later: with a 30 s TTL the survivor
    /// checks every connection of the killed one within a few seconds.
    @Test func aKilledReplicasShareMovesLongBeforeItsTTL() async throws {
        try await ReplicaCluster.with { cluster in
            try await cluster.start("a", memberTTL: 30)
            try await cluster.start("b", memberTTL: 30)
            try await cluster.waitForMembers(["a", "b"])
            _ = try await cluster.createConnections(40)
            let owners = try await cluster.settledOwners(expecting: 40)
            let killedShare = Set(owners.filter { $0.value == "b" }.keys)
            #expect(!killedShare.isEmpty, "b checked some: \(owners)")

            let killedAt = ContinuousClock.now
            cluster.kill("b")
            try await waitUntil(timeout: .seconds(25), "a checks b's \(killedShare.count) connections") {
                let byA = Set(cluster.farm.checks.filter { $0.at > killedAt && $0.replica == "a" }.map(\.target))
                return killedShare.isSubset(of: byA)
            }
            let taken = ContinuousClock.now - killedAt
            print("failover: a checked b's \(killedShare.count) connections \(taken) after b was killed")
            #expect(taken < .seconds(10), "b's share moved \(taken) after the kill (member TTL 30 s)")
            #expect(try await cluster.replicasAnswer(from: "a").map(\.id) == ["a"], "a lists itself only")
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
    /// The running replicas by id (the chaos test kills and starts them while clients write).
    private let running = Mutex<[String: ServerProcess]>([:])
    private let adminToken = Mutex("")
    var token: String { adminToken.withLock { $0 } }
    var liveIds: [String] { running.withLock { $0.keys.sorted() } }

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

    func start(_ id: String, secretsKey: String? = nil, memberTTL: Int = 3) async throws {
        let server = try await ServerProcess(
            dataDirectory: folder.file("data-\(id)"), logPath: folder.file("\(id).log"),
            arguments: ["--database", database.url, "--replica-id", id, "--member-ttl", "\(memberTTL)",
                        "--probe-interval", "1", "--probe-registered-interval", "1", "--probe-timeout", "1",
                        "--max-backoff", "1"],
            environment: ["SWITCHBOARD_SECRETS_KEY": secretsKey ?? self.secretsKey])
        // The first replica makes the admin token; the others find one made.
        adminToken.withLock { if $0.isEmpty { $0 = server.adminToken } }
        running.withLock { $0[id] = server }
    }

    func stop(_ id: String) async -> Int32? {
        guard let server = running.withLock({ $0.removeValue(forKey: id) }) else { return nil }
        return await server.stop(within: .seconds(30))
    }

    /// SIGKILL, as a crash or an out-of-memory kill would.
    func kill(_ id: String) {
        running.withLock { $0.removeValue(forKey: id) }?.kill()
    }

    func stopAll() async {
        for id in liveIds { _ = await stop(id) }
    }

    func server(_ id: String) throws -> ServerProcess {
        guard let server = running.withLock({ $0[id] }) else { throw ServerProcessError("no replica \(id) is running") }
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
            for id in liveIds where try await replicasAnswer(from: id).map(\.id) != ids { return false }
            return true
        }
    }

    /// Connection `target`'s id: fixed, so which replica owns it is the same in every run.
    /// With random ids the split of 300 over three replicas varies by about 8 (binomial), and
    /// fell outside ±20% in a fresh clone's run; ownership itself is what the test checks.
    static func id(_ target: Int) -> String { ProbeFarm.connectionId(target) }

    /// `count` http connections to the farm's targets, registered (so the monitor checks
    /// them), made through the replicas in turn.
    func createConnections(_ count: Int, from first: Int = 0, status: String = "registered") async throws -> [String] {
        let replicas = liveIds
        var created: [(Int, String)] = []
        return try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for target in first..<(first + count) {
                let via = replicas[target % replicas.count]
                group.addTask {
                    let (status, json) = try await self.request(via, .POST, "/api/integrations/connections", body: """
                        {"id": "\(Self.id(target))", "name": "target-\(target)", "kind": "http", "url": "\(self.farm.url(target))", "status": "\(status)"}
                        """)
                    guard status == 201, let id = json["id"] as? String else {
                        throw ServerProcessError("creating target \(target) through \(via) answered \(status): \(json)")
                    }
                    return (target, id)
                }
                if target % 8 == 7, let made = try await group.next() { created.append(made) }
            }
            for try await made in group { created.append(made) }
            return created.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// Which replica checked each target in a 3 s window, once every target has exactly one
    /// (at most 20 s after the members last changed).
    /// `keepingChecks`: the farm's record is kept (for `ownerChanges` over the whole change).
    func settledOwners(expecting count: Int, keepingChecks: Bool = false) async throws -> [Int: String] {
        var owners: [Int: Set<String>] = [:]
        try await waitUntil(timeout: .seconds(20), "each of \(count) targets checked by one replica") {
            if !keepingChecks { farm.resetChecks() }
            let windowStart = ContinuousClock.now
            try await Task.sleep(for: .seconds(3))
            owners = Dictionary(grouping: farm.checks.filter { $0.at >= windowStart }, by: \.target)
                .mapValues { Set($0.map(\.replica)) }
            return owners.count == count && owners.values.allSatisfy { $0.count == 1 }
        }
        return owners.compactMapValues(\.first)
    }

    /// How often each target's checks changed replica, in the order they came.
    static func ownerChanges(_ checks: [ProbeFarm.Check]) -> [Int: Int] {
        var last: [Int: String] = [:], changes: [Int: Int] = [:]
        for check in checks {
            if let previous = last[check.target], previous != check.replica { changes[check.target, default: 0] += 1 }
            last[check.target] = check.replica
        }
        return changes
    }

    /// The replicas that checked `target`, in order, with the time since the first check.
    static func sequence(of target: Int?, in checks: [ProbeFarm.Check]) -> String {
        let mine = checks.filter { $0.target == target }
        guard let first = mine.first else { return "no checks" }
        return "target \(target.map(String.init) ?? "-"): " + mine.map { "\($0.replica)@\(($0.at - first.at).formatted(.units(allowed: [.milliseconds])))" }
            .joined(separator: " ")
    }

    /// A transition through one replica, then a read through the next: the read always
    /// shows the transition.
    func readYourWrites(_ ids: [String], rounds: Int) async throws {
        let replicas = liveIds
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

    /// A token revoked with the CLI beside one replica (its data folder gets the marker) is
    /// refused by another replica from the very next request: replicas remember no token.
    func revocationHoldsOnEveryReplica() async throws {
        let binary = try ServerProcess.binaryPath()
        let created = try Program.run(binary, ["token", "create", "--data-dir", folder.file("data-r1"), "--database", database.url,
                                               "--user", "rita", "--role", "member"])
        let token = try #require(created.text.range(of: #"sbt_[A-Za-z0-9_-]+"#, options: .regularExpression).map { String(created.text[$0]) },
                                 "\(created.text)")
        let id = try #require(created.text.range(of: #"[0-9a-f]{8}-[0-9a-f-]{27}"#, options: .regularExpression).map { String(created.text[$0]) },
                              "\(created.text)")
        for replica in ["r1", "r2", "r3"] {
            #expect(try await server(replica).request(.GET, "/api/integrations/connections", token: token).status == 200)
        }
        let revoked = try Program.run(binary, ["token", "revoke", id, "--data-dir", folder.file("data-r1"), "--database", database.url])
        #expect(revoked.status == 0, "\(revoked.text)")
        for replica in ["r2", "r3", "r1"] {
            #expect(try await server(replica).request(.GET, "/api/integrations/connections", token: token).status == 401,
                    "\(replica) refuses a token revoked a moment ago")
        }
    }

    /// A transition the server answered 200 to.
    struct Acknowledged: Sendable {
        var connectionId: String
        var correlationId: String
        var status: String
    }

    /// Three writers move `ids` between connected and maintenance through whichever replicas
    /// run, each with a correlation id, until `deadline`; answers those acknowledged.
    func writeTransitions(_ ids: [String], until deadline: ContinuousClock.Instant) async throws -> [Acknowledged] {
        try await withThrowingTaskGroup(of: [Acknowledged].self) { group in
            for writer in 0..<3 {
                group.addTask {
                    var acknowledged: [Acknowledged] = []
                    var turn = writer
                    while ContinuousClock.now < deadline {
                        turn += 3
                        let id = ids[turn % ids.count]
                        guard let via = self.liveIds.randomElement(), let server = try? self.server(via) else { continue }
                        guard let (_, data) = try? await server.request(.GET, "/api/integrations/connections/\(id)", token: self.token,
                                                                         timeout: .seconds(10)),
                              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                              let status = json["status"] as? String else { continue }
                        let to = status == "maintenance" ? "connected" : "maintenance"
                        let correlation = UUID().uuidString.lowercased()
                        var request = HTTPClientRequest(url: server.address + "/api/integrations/connections/\(id)/transitions")
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer \(self.token)")
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.headers.add(name: "X-Correlation-Id", value: correlation)
                        request.body = .bytes(ByteBuffer(string: #"{"status": "\#(to)"}"#))
                        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)) else { continue }
                        if response.status == .ok {
                            acknowledged.append(Acknowledged(connectionId: id, correlationId: correlation, status: to))
                        }
                        _ = try? await response.body.collect(upTo: 1 << 20)
                    }
                    return acknowledged
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// One outage: the target answered 503 from `start` to `end`.
    struct Outage: Sendable {
        var target: Int
        var start: Date
        var end: Date
    }

    /// Every 4 s, three targets of `targets` not down in the last 20 s go down for 10 s.
    func takeTargetsDown(_ targets: Range<Int>, until deadline: ContinuousClock.Instant) async throws -> [Outage] {
        var outages: [Outage] = []
        var down: [(target: Int, until: Date)] = []
        var lastDown: [Int: Date] = [:]
        var lastStart = Date.distantPast
        while ContinuousClock.now < deadline {
            let now = Date()
            down.removeAll { $0.until <= now }
            let rested = targets.filter { lastDown[$0].map { now.timeIntervalSince($0) > 20 } ?? true }
            if ContinuousClock.now < deadline - .seconds(12), now.timeIntervalSince(lastStart) >= 4 {
                lastStart = now
                for target in rested.shuffled().prefix(3) {
                    down.append((target, now.addingTimeInterval(10)))
                    lastDown[target] = now
                    outages.append(Outage(target: target, start: now, end: now.addingTimeInterval(10)))
                }
            }
            farm.setDown(Set(down.map(\.target)))
            try await Task.sleep(for: .milliseconds(100))
        }
        farm.setDown([])
        return outages
    }

    struct Event: Decodable {
        var sequence: Int64
        var from: String?
        var to: String
        var correlationId: String
        var createdAt: Date
    }

    /// A connection's status and its whole history, oldest first.
    func history(_ id: String) async throws -> (status: String, events: [Event]) {
        let via = try #require(liveIds.first)
        let (_, connection) = try await request(via, .GET, "/api/integrations/connections/\(id)")
        var events: [Event] = []
        var page = 0
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            let format = ISO8601DateFormatter()
            format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard let date = format.date(from: text) ?? ISO8601DateFormatter().date(from: text) else {
                throw ServerProcessError("not a date: \(text)")
            }
            return date
        }
        struct Page: Decodable { var events: [Event]; var totalCount: Int }
        while true {
            let (_, data) = try await server(via).request(.GET, "/api/integrations/connections/\(id)/events?page=\(page)&pageSize=100",
                                                           token: token)
            let batch = try decoder.decode(Page.self, from: data)
            events += batch.events
            if events.count >= batch.totalCount || batch.events.isEmpty { break }
            page += 1
        }
        return (connection["status"] as? String ?? "", events.reversed())
    }

    func attachLogs() {
        for id in ["r1", "r2", "r3"] {
            let log = (try? String(contentsOfFile: folder.file("\(id).log"), encoding: .utf8)) ?? ""
            Issue.record("log of \(id) (last 3000 characters): \(log.suffix(3000))")
        }
    }
}
