import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import GRDB
import SwitchboardTestSupport

/// api-read and api-transition: the HTTP API against nginx and against SQLite itself.
enum APIScenarios {
    static let serverArguments = ["--log-level", "warning", "--no-auto-register"]

    /// `GET /api/integrations/connections/{id}` at 64 concurrent connections, and nginx
    /// serving the same JSON body as a static file, both loaded by wrk, in turns.
    static func apiRead(_ folder: TemporaryDirectory, seconds: Int) async throws -> [Result] {
        let server = try await ServerProcess(dataDirectory: folder.file("api-read"), logPath: folder.file("api-read.log"),
                                             arguments: serverArguments)
        defer { _ = server.terminate() }
        var ids: [String] = []
        for index in 0..<64 {
            let created = try await Tools.request(server, .POST, "/api/integrations/connections",
                                                  body: #"{"name": "read-\#(index)", "kind": "http", "url": "http://127.0.0.1:9/read-\#(index)"}"#)
            ids.append(Tools.json(created.body)["id"] as? String ?? "")
        }
        let path = "/api/integrations/connections/\(ids[0])"
        let body = try await Tools.request(server, .GET, path).body

        let nginx = try await Nginx(folder: folder.file("nginx"), file: "connection.json", contents: body)
        defer { nginx.stop() }
        _ = try Tools.wrk(server.address + path, token: server.adminToken, connections: 64, seconds: 2)
        _ = try Tools.wrk(nginx.url, token: server.adminToken, connections: 64, seconds: 2)
        // The machine's speed drifts within a run (its cores are shared; nginx alone measured
        // 58k to 83k requests/s in runs minutes apart), so the loads take turns three times
        // and the medians are compared: a slow moment cannot fall on one side only.
        var ours: [Double] = [], floors: [Double] = [], peers: [Double] = []
        for _ in 0..<3 {
            ours.append(try Tools.wrk(server.address + path, token: server.adminToken, connections: 64, seconds: seconds))
            // The server's floor: a route that reads nothing and encodes nothing, same load.
            floors.append(try Tools.wrk(server.address + "/healthz", token: server.adminToken, connections: 64, seconds: seconds))
            peers.append(try Tools.wrk(nginx.url, token: server.adminToken, connections: 64, seconds: seconds))
        }
        let switchboard = Tools.median(ours), floor = Tools.median(floors), peer = Tools.median(peers)
        func runs(_ values: [Double]) -> String { values.map { Tools.format($0) }.joined(separator: ", ") }
        let ratio = switchboard / peer
        return [
            Result(scenario: "api-read", figure: "\(Tools.format(switchboard)) requests/s (median of \(runs(ours)))",
                   comparedWith: "nginx, same \(body.count)-byte body, taking turns: \(Tools.format(peer)) requests/s (median of \(runs(peers)))",
                   ratio: ratio, target: "≥ 0.5", met: ratio >= 0.5),
            Result(scenario: "api-read floor (for reading the row above)",
                   figure: "GET /healthz: \(Tools.format(floor)) requests/s (median of \(runs(floors)))",
                   comparedWith: "nginx: \(Tools.format(peer)) requests/s", ratio: floor / peer, target: "-", met: true),
        ]
    }

    /// Durable transitions over HTTP (one per request, 16 clients; and bulk requests of
    /// 1,000 ids) against a loop doing the same SQL on the same kind of SQLite file.
    static func apiTransition(_ folder: TemporaryDirectory, count: Int) async throws -> [Result] {
        // discovered → ignored: a user's move that needs no check and starts no monitoring.
        let shape = { (index: Int) in (Seeder.kinds[4], ConnectionStatus.discovered, "http://127.0.0.1:9/move-\(index)") }
        let singleIds = try await Seeder.seed(folder.file("transition-single"), count: count, shape: shape)
        let bulkIds = try await Seeder.seed(folder.file("transition-bulk"), count: count, shape: shape)
        let directIds = try await Seeder.seed(folder.file("transition-direct"), count: count, shape: shape)

        let direct = try directLoop(folder.file("transition-direct/switchboard.sqlite"), ids: directIds)

        let single = try await ServerProcess(dataDirectory: folder.file("transition-single"), logPath: folder.file("single.log"),
                                             arguments: serverArguments)
        let clients = 16
        let start = ContinuousClock.now
        let moved = try await withThrowingTaskGroup(of: Int.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var done = 0
                    for id in stride(from: client, to: singleIds.count, by: clients).map({ singleIds[$0] }) {
                        let answer = try await Tools.request(single, .POST, "/api/integrations/connections/\(id.lowercasedString)/transitions",
                                                             body: #"{"status": "ignored", "reason": "benchmark"}"#)
                        if answer.status == 200 { done += 1 }
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        let singleRate = Double(moved) / (ContinuousClock.now - start).seconds
        _ = single.terminate()

        let bulk = try await ServerProcess(dataDirectory: folder.file("transition-bulk"), logPath: folder.file("bulk.log"),
                                           arguments: serverArguments)
        let bulkStart = ContinuousClock.now
        var bulkMoved = 0
        for chunk in stride(from: 0, to: bulkIds.count, by: 1000).map({ Array(bulkIds[$0..<min($0 + 1000, bulkIds.count)]) }) {
            let ids = chunk.map { "\"\($0.lowercasedString)\"" }.joined(separator: ",")
            let answer = try await Tools.request(bulk, .POST, "/api/integrations/connections/transitions",
                                                 body: #"{"ids": [\#(ids)], "status": "ignored", "reason": "benchmark"}"#)
            bulkMoved += Tools.json(answer.body)["succeeded"] as? Int ?? 0
        }
        let bulkRate = Double(bulkMoved) / (ContinuousClock.now - bulkStart).seconds
        _ = bulk.terminate()

        let comparedWith = "direct SQLite loop (update with version check + event insert, a transaction each): \(Tools.format(direct)) /s"
        return [
            Result(scenario: "api-transition (single)", figure: "\(Tools.format(singleRate)) transitions/s (\(moved) of \(count), \(clients) clients)",
                   comparedWith: comparedWith, ratio: singleRate / direct, target: "≥ 0.5", met: singleRate / direct >= 0.5),
            Result(scenario: "api-transition (bulk)", figure: "\(Tools.format(bulkRate)) transitions/s (\(bulkMoved) of \(count), 1,000 per request)",
                   comparedWith: comparedWith, ratio: bulkRate / direct, target: "≥ 0.5", met: bulkRate / direct >= 0.5),
        ]
    }

    /// The ceiling: the store's own statements, straight on SQLite with the store's settings
    /// (WAL, busy timeout, foreign keys), one transaction per move, as fast as one loop goes.
    static func directLoop(_ path: String, ids: [UUID]) throws -> Double {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA foreign_keys = ON") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        let start = ContinuousClock.now
        for id in ids {
            try pool.write { db in
                let key = id.lowercasedString
                guard let version = try Int64.fetchOne(db, sql: "SELECT version FROM connections WHERE id = ?", arguments: [key]) else { return }
                let now = Date()
                try db.execute(sql: """
                    UPDATE connections SET status = 'ignored', updated_at = ?, version = ?, status_changed_by = 'user'
                    WHERE id = ? AND version = ?
                    """, arguments: [now, version + 1, key, version])
                try db.execute(sql: """
                    INSERT INTO events (connection_id, from_status, to_status, actor, actor_role, reason, correlation_id, at)
                    VALUES (?, 'discovered', 'ignored', 'admin', 'user', 'benchmark', ?, ?)
                    """, arguments: [key, UUID().lowercasedString, now])
            }
        }
        return Double(ids.count) / (ContinuousClock.now - start).seconds
    }
}

/// nginx from Debian serving one file on a free loopback port.
final class Nginx: @unchecked Sendable {
    // @unchecked: set once in `init`.
    let process: Process
    let url: String

    init(folder: String, file: String, contents: Data) async throws {
        try FileManager.default.createDirectory(atPath: folder + "/www", withIntermediateDirectories: true)
        try contents.write(to: URL(fileURLWithPath: "\(folder)/www/\(file)"))
        let port = try freeLoopbackPort()
        try """
            user root;
            worker_processes auto;
            daemon off;
            pid \(folder)/nginx.pid;
            error_log \(folder)/error.log warn;
            events { worker_connections 1024; }
            http {
              access_log off;
              default_type application/json;
              server { listen 127.0.0.1:\(port); root \(folder)/www; }
            }
            """.write(toFile: folder + "/nginx.conf", atomically: true, encoding: .utf8)
        guard let nginx = ExternalServer.locate("nginx") else {
            throw ServerProcessError("nginx is not installed; scripts/bench installs it from Debian's packages")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nginx)
        process.arguments = ["-p", folder, "-c", folder + "/nginx.conf"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        url = "http://127.0.0.1:\(port)/\(file)"
        try await waitUntil(timeout: .seconds(10), "nginx to answer") {
            (try? Tools.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", self.url])) == "200"
        }
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
