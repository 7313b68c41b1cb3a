import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SwitchboardTestSupport
import Testing

/// The change stream over a real loopback connection: Server-Sent Events from the event log,
/// resumed with Last-Event-ID without missing or repeating an event while changes go on.
struct EventStreamAPITests {
    /// Reads events from the stream until `enough` says stop; returns their ids in order.
    static func read(port: Int, token: String, lastEventId: Int64?, query: String = "",
                     until enough: @escaping ([Int64]) -> Bool) async throws -> [Int64] {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/events/stream\(query)")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let lastEventId { request.headers.add(name: "Last-Event-ID", value: "\(lastEventId)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
        var ids: [Int64] = []
        var pending = ""
        for try await chunk in response.body {
            pending += String(buffer: chunk)
            while let end = pending.range(of: "\n\n") {
                let message = pending[..<end.lowerBound]
                pending = String(pending[end.upperBound...])
                // Only blocks with data are events; the first block just names where the stream starts.
                let lines = message.split(separator: "\n")
                guard lines.contains(where: { $0.hasPrefix("data: ") }) else { continue }
                for line in lines where line.hasPrefix("id: ") {
                    if let id = Int64(line.dropFirst(4)) { ids.append(id) }
                }
            }
            if enough(ids) { break }
        }
        return ids
    }

    @Test func aResumedStreamMissesAndRepeatsNothing() async throws {
        try await ServerHarness.run(.live) { harness in
            let port = try #require(harness.client.port)
            var created: [String] = []
            for index in 0..<6 {
                created.append(try await harness.createConnection(name: "stream-\(index)", kind: "http").id)
            }
            let ids = created
            let start = try await harness.store.latestEventSequence()

            // Changes keep coming while the client reads, drops, and comes back.
            let load = Task {
                for round in 0..<8 {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for id in ids {
                            group.addTask {
                                _ = try await harness.request(.post, "/api/integrations/connections/\(id)/transitions",
                                                              json: #"{"status": "\#(round % 2 == 0 ? "ignored" : "registered")"}"#)
                            }
                        }
                        try await group.waitForAll()
                    }
                }
            }
            let first = try await Self.read(port: port, token: harness.adminToken, lastEventId: start) { $0.count >= 15 }
            let resumeFrom = try #require(first.last)
            try await load.value
            let end = try await harness.store.latestEventSequence()
            #expect(end - start == 48, "six connections, eight moves each")
            let second = try await Self.read(port: port, token: harness.adminToken, lastEventId: resumeFrom) {
                ($0.last ?? 0) >= end
            }
            let all = first + second
            #expect(all == Array((start + 1)...end), "every event once, in order")

            // Filters: one connection's events only; and a member sees none of the admin's.
            let one = try #require(UUID(uuidString: ids[0]))
            let filtered = try await Self.read(port: port, token: harness.adminToken, lastEventId: start,
                                               query: "?connection=\(one.lowercasedString)") { $0.count >= 8 }
            let expected = try await harness.history(one).map(\.sequence).filter { $0 > start }
            #expect(filtered == expected)
            let member = try await harness.tokens.issue(for: "carol", role: .member).token
            _ = try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "carols", "kind": "http", "url": "\(harness.target.reachableURL)/carol"}
                """, token: member)
            let hers = try await Self.read(port: port, token: member, lastEventId: start) { !$0.isEmpty }
            #expect(hers.count == 1 && hers[0] > end, "a member's stream shows only her own connection's events")
        }
    }

    /// A stream does not outlive its token: when the token expires, the stream's last message
    /// is the 401 problem as an `unauthorized` event, and the server ends it. The token lives
    /// 5 s: with 2 s, the PostgreSQL pass (130 tests at once on 2 cores) once took longer than
    /// that from issuing the token to the stream's first request.
    @Test func aStreamEndsWhenItsTokenExpires() async throws {
        try await ServerHarness.run(.live) { harness in
            let port = try #require(harness.client.port)
            let issued = try await harness.tokens.issue(for: "short", role: .member, expiresIn: .seconds(5))
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/events/stream")
            request.headers.add(name: "Authorization", value: "Bearer \(issued.token)")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            #expect(response.status == .ok)
            let text = await readUntilEnd(response.body, timeout: .seconds(15))
            let ended = try #require(text, "the stream was open 10 s after its 5 s token expired")
            #expect(ended.contains("event: unauthorized") && ended.contains("the token has expired"), "\(ended)")
        }
    }
}
