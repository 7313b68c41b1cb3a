import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardTestSupport
import Testing

/// The real `switchboard` binary under load from several clients (single and bulk
/// transitions, credential writes, kubeconfig imports), killed with SIGKILL in the middle,
/// restarted on the same data folder: every acknowledged write is there, and every
/// connection's status is the replay of its event log.
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

    /// What the other writers had acknowledged when the server died.
    actor OtherWrites {
        var credentials: [String] = []
        var imported: [String] = []
        var bulk: [Acknowledged] = []
        func credential(_ id: String) { credentials.append(id) }
        func imported(_ id: String) { imported.append(id) }
        func bulk(_ acknowledged: Acknowledged) { bulk.append(acknowledged) }
    }

    @Test func acknowledgedWritesSurviveSIGKILL() async throws {
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
        // Meanwhile: bulk moves, credential writes and kubeconfig imports, each acknowledged one remembered.
        let others = OtherWrites()
        let otherLoad = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        let chosen = connectionIds.shuffled().prefix(4)
                        let next = ["maintenance", "ignored", "registered"].randomElement() ?? "ignored"
                        let correlation = UUID().uuidString.lowercased()
                        let ids = chosen.map { "\"\($0)\"" }.joined(separator: ",")
                        guard let (status, data) = try? await Self.send(
                            client, token, .POST, "\(address)/api/integrations/connections/transitions",
                            #"{"ids": [\#(ids)], "status": "\#(next)"}"#, correlation: correlation) else { break }
                        struct Results: Decodable { var results: [Result]; struct Result: Decodable { var id: String; var ok: Bool } }
                        guard status == 200, let results = try? JSONDecoder().decode(Results.self, from: data) else { continue }
                        for result in results.results where result.ok {
                            await others.bulk(Acknowledged(connectionId: result.id, correlationId: correlation, status: next))
                        }
                    }
                }
                group.addTask {
                    var index = 0
                    while !Task.isCancelled {
                        index += 1
                        guard let (status, data) = try? await Self.send(
                            client, token, .POST, "\(address)/api/integrations/credentials",
                            #"{"name": "crash-credential-\#(index)", "type": "token", "secret": {"token": "t-\#(index)"}}"#) else { break }
                        struct Created: Decodable { var id: String }
                        if status == 201, let created = try? JSONDecoder().decode(Created.self, from: data) {
                            await others.credential(created.id)
                        }
                    }
                }
                group.addTask {
                    var index = 0
                    while !Task.isCancelled {
                        index += 1
                        guard let (status, data) = try? await Self.importKubeconfig(client, token, address, index: index) else { break }
                        struct Imported: Decodable { var contexts: [Context]; struct Context: Decodable { var connectionId: String? } }
                        if status == 200, let imported = try? JSONDecoder().decode(Imported.self, from: data) {
                            for id in imported.contexts.compactMap(\.connectionId) { await others.imported(id) }
                        }
                    }
                }
            }
        }

        // Kill it mid-load once enough has been acknowledged (however busy the machine is).
        let deadline = ContinuousClock.now + .seconds(60)
        while await progress.count < 80 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        first.kill()
        let acknowledged = try await load.value + (await others.bulk)
        otherLoad.cancel()
        await otherLoad.value
        #expect(acknowledged.count > 20, "the load produced too little to prove anything: \(acknowledged.count)")
        let credentials = await others.credentials
        let imported = await others.imported
        #expect(!credentials.isEmpty && !imported.isEmpty, "credentials \(credentials.count), imports \(imported.count)")

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
        for id in credentials {
            let (status, _) = try await Self.send(client, token, .GET, "\(second.address)/api/integrations/credentials/\(id)")
            #expect(status == 200, "acknowledged credential \(id) lost")
        }
        for id in imported {
            let (status, _) = try await Self.send(client, token, .GET, "\(second.address)/api/integrations/connections/\(id)")
            #expect(status == 200, "acknowledged imported connection \(id) lost")
        }
        #expect(await second.stop() == 0, "SIGTERM shuts down cleanly")
        try await client.shutdown()
        await target.stop()
    }

    /// Uploads a one-context kubeconfig for a cluster nobody runs (each upload another one).
    private static func importKubeconfig(_ client: HTTPClient, _ token: String, _ address: String,
                                         index: Int) async throws -> (UInt, Data) {
        let kubeconfig = """
            apiVersion: v1
            kind: Config
            clusters: [{name: c\(index), cluster: {server: "https://127.0.0.1:1/cluster-\(index)"}}]
            users: [{name: u, user: {token: t\(index)}}]
            contexts: [{name: ctx-\(index), context: {cluster: c\(index), user: u}}]
            """
        let (status, body) = try await uploadKubeconfig(kubeconfig, to: address, token: token, client: client, timeout: .seconds(10))
        return (status, body)
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
