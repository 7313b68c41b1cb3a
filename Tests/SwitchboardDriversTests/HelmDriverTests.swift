import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import SwitchboardDrivers
import SwitchboardTestSupport
import Testing

/// A Helm repository served by a real static file server (Python's `http.server`) with a
/// real `index.yaml`.
@Suite(.enabled(if: ExternalServer.shouldRun(needing: "python3")))
struct HelmDriverTests {
    static let index = """
        apiVersion: v1
        entries:
          nginx:
            - apiVersion: v2
              name: nginx
              version: 15.4.2
              appVersion: 1.25.3
              urls: [charts/nginx-15.4.2.tgz]
              created: "2026-10-01T10:00:00Z"
              digest: 3f0a
            - apiVersion: v2
              name: nginx
              version: 15.4.1
              urls: [charts/nginx-15.4.1.tgz]
          redis:
            - apiVersion: v2
              name: redis
              version: 18.1.0
              urls: [charts/redis-18.1.0.tgz]
        generated: "2026-10-01T10:00:00Z"
        """

    @Test func verifiesAndIndexesARealRepository() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let site = folder.file("repo")
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try Self.index.write(toFile: "\(site)/index.yaml", atomically: true, encoding: .utf8)
        try "not: [a helm index".write(toFile: "\(folder.path)/index.yaml", atomically: true, encoding: .utf8)
        // A key of aliases of aliases: ten billion leaves for Yams to hash, were it let through.
        try FileManager.default.createDirectory(atPath: folder.file("bomb"), withIntermediateDirectories: true)
        var bomb = ["apiVersion: v1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1...10 {
            bomb.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]")
        }
        bomb.append("entries:\n  ? [*a10]\n  : []")
        try bomb.joined(separator: "\n").write(toFile: folder.file("bomb/index.yaml"), atomically: true, encoding: .utf8)
        let port = try freeLoopbackPort()
        let server = try await ExternalServer(
            executable: "python3", arguments: ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", folder.path],
            port: port, logPath: folder.file("http.log"), readyPath: "/repo/index.yaml")
        defer { server.stop() }

        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let driver = HelmDriver(http: OutboundHTTP(client: client), credentials: FileReferenceCredentials())
        func connection(_ url: String) -> Connection {
            Connection(name: "charts", url: url, kind: "helm", type: "platform", subType: "registry",
                       status: .registered, createdAt: .now, updatedAt: .now)
        }
        let good = await driver.verify(connection("http://127.0.0.1:\(port)/repo"))
        #expect(good.health == .reachable, "\(good.error ?? "")")
        #expect(good.details["charts"] == "2")

        let broken = await driver.verify(connection("http://127.0.0.1:\(port)"))
        #expect(broken.health == .unreachable && broken.error?.contains("index.yaml") == true, "\(broken.error ?? "")")
        let started = ContinuousClock.now
        let bombed = await driver.verify(connection("http://127.0.0.1:\(port)/bomb"))
        #expect(bombed.health == .unreachable && bombed.error?.contains("alias") == true, "\(bombed.error ?? "")")
        #expect(ContinuousClock.now - started < .seconds(10), "refused before Yams expands it")
        let missing = await driver.verify(connection("http://127.0.0.1:\(port)/nothing-here"))
        #expect(missing.health == .unreachable && missing.error?.contains("404") == true)

        let sink = MemorySink()
        let session = Task { try await driver.runSession(connection("http://127.0.0.1:\(port)/repo/"), sink: sink) }
        try await waitUntil { await sink.values["charts"] != nil }
        session.cancel()
        guard case .array(let charts)? = await sink.values["charts"] else { Issue.record("no chart list"); return }
        #expect(charts.count == 2)
        #expect(charts.first == .object(["name": .string("nginx"), "latest": .string("15.4.2"),
                                         "versions": .array([.string("15.4.2"), .string("15.4.1")])]))
        try await client.shutdown()
    }
}

/// Keeps what a session collected, for tests that look at a driver alone.
actor MemorySink: CollectedDataSink {
    private(set) var values: [String: JSONValue] = [:]

    func saveCollectedData(connectionId: UUID, key: String, value: JSONValue) async throws {
        values[key] = value
    }
}

