import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardTestSupport
import Testing

/// The real `switchboard` binary under load from several clients, killed with SIGKILL in
/// the middle, restarted on the same data folder: every acknowledged transition is there,
/// and every connection's status is the replay of its event log.
@Suite struct CrashRecoveryTests {
    struct Connection: Decodable {
        var id: String
        var status: String
        var transitionMap: [String: [Transition]]
        struct Transition: Decodable { var nextState: String }
    }

    struct Event: Decodable {
        var from: String?
        var to: String
        var correlationId: String
    }

    struct EventPage: Decodable {
        var events: [Event]
        var totalCount: Int
    }

    /// Acknowledged transitions so far, across the clients.
    actor Progress {
        private(set) var count = 0
        func add() { count += 1 }
    }

    /// A transition the server answered 200 to.
    struct Acknowledged: Sendable {
        var connectionId: String
        var correlationId: String
        var status: String
    }

    @Test func acknowledgedTransitionsSurviveSIGKILL() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let dataDirectory = folder.file("data")

        let first = try await ServerProcess(dataDirectory: dataDirectory, logPath: folder.file("first.log"))
        let token = first.adminToken
        var ids: [String] = []
        for index in 0..<12 {
            let body = #"{"name": "crash-\#(index)", "kind": "http", "url": "\#(target.reachableURL)/crash-\#(index)"}"#
            let (status, data) = try await Self.send(client, token, .POST, "\(first.address)/api/integrations/connections", body)
            #expect(status == 201)
            ids.append(try JSONDecoder().decode(Connection.self, from: data).id)
        }

        // Four clients move random connections along random legal edges until the server dies.
        let address = first.address
        let connectionIds = ids
        let progress = Progress()
        let load = Task {
            try await withThrowingTaskGroup(of: [Acknowledged].self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var acknowledged: [Acknowledged] = []
                        var turn = worker
                        while !Task.isCancelled {
                            turn += 4
                            let id = connectionIds[turn % connectionIds.count]
                            guard let (_, data) = try? await Self.send(client, token, .GET, "\(address)/api/integrations/connections/\(id)"),
                                  let connection = try? JSONDecoder().decode(Connection.self, from: data) else { break }
                            let choices = (connection.transitionMap[connection.status] ?? []).map(\.nextState)
                                .filter { $0 != "deleted" }
                            guard let next = choices.randomElement() else { continue }
                            let correlation = UUID().uuidString.lowercased()
                            guard let (status, _) = try? await Self.send(
                                client, token, .POST, "\(address)/api/integrations/connections/\(id)/transitions",
                                #"{"status": "\#(next)"}"#, correlation: correlation) else { break }
                            if status == 200 {
                                acknowledged.append(Acknowledged(connectionId: id, correlationId: correlation, status: next))
                                await progress.add()
                            }
                        }
                        return acknowledged
                    }
                }
                return try await group.reduce(into: [Acknowledged]()) { $0 += $1 }
            }
        }
        // Kill it mid-load once enough has been acknowledged (however busy the machine is).
        let deadline = ContinuousClock.now + .seconds(60)
        while await progress.count < 80 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        first.kill()
        let acknowledged = try await load.value
        #expect(acknowledged.count > 20, "the load produced too little to prove anything: \(acknowledged.count)")

        let second = try await ServerProcess(dataDirectory: dataDirectory, logPath: folder.file("second.log"))
        for id in ids {
            let (_, data) = try await Self.send(client, token, .GET, "\(second.address)/api/integrations/connections/\(id)")
            let connection = try JSONDecoder().decode(Connection.self, from: data)
            var events: [Event] = []
            var page = 0
            while true {
                let (_, pageData) = try await Self.send(
                    client, token, .GET, "\(second.address)/api/integrations/connections/\(id)/events?page=\(page)&pageSize=100")
                let batch = try JSONDecoder().decode(EventPage.self, from: pageData)
                events += batch.events
                if events.count >= batch.totalCount || batch.events.isEmpty { break }
                page += 1
            }
            let chronological = Array(events.reversed())
            var replayed: String?
            for event in chronological {
                #expect(event.from == replayed, "broken chain in \(id)")
                replayed = event.to
            }
            #expect(replayed == connection.status, "status of \(id) is not the replay of its log")
            let logged = Set(events.map(\.correlationId))
            for ack in acknowledged where ack.connectionId == id {
                #expect(logged.contains(ack.correlationId), "acknowledged transition to \(ack.status) lost for \(id)")
            }
        }
        #expect(second.terminate() == 0, "SIGTERM shuts down cleanly")
        try await client.shutdown()
        await target.stop()
    }

    private static func send(_ client: HTTPClient, _ token: String, _ method: HTTPMethod, _ url: String,
                             _ body: String? = nil, correlation: String? = nil) async throws -> (UInt, Data) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        if let correlation { request.headers.add(name: "X-Correlation-Id", value: correlation) }
        let response = try await client.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 10 << 20)
        return (response.status.code, Data(bytes.readableBytesView))
    }
}
