import AsyncHTTPClient
import Foundation
import NIOCore
import SwitchboardTestSupport
import Testing

/// Discovery by the real `switchboard` binary: the declared-connections file at start and on
/// SIGHUP, and the operator's kubeconfig at start-up (against a Kubernetes API server
/// stand-in: there is no real one on these machines).
@Suite(.serialized)
struct DiscoveryProcessTests {
    struct Page: Decodable {
        var connections: [Item]
        struct Item: Decodable {
            var id: String
            var name: String
            var kind: String
            var status: String
        }
    }

    static func connections(_ client: HTTPClient, _ server: ServerProcess) async throws -> [Page.Item] {
        let answer = try await server.request(.GET, "/api/integrations/connections?pageSize=100", client: client, timeout: .seconds(10))
        return try JSONDecoder().decode(Page.self, from: answer.body).connections
    }

    @Test func declaredConnectionsLoadAtStartAndOnSIGHUP() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let file = folder.file("connections.yaml")
        let base = target.reachableURL
        try """
            connections:
              - {kind: http, name: status page, url: "\(base)/status"}
              - {kind: prometheus, name: metrics, url: "\(base)/prometheus"}
            """.write(toFile: file, atomically: true, encoding: .utf8)

        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"),
                                             arguments: ["--connections-file", file])
        try await waitUntil(timeout: .seconds(30)) { try await Self.connections(client, server).count == 2 }
        // Reachable, so discovery registered them on its own.
        try await waitUntil { try await Self.connections(client, server).allSatisfy { $0.status == "registered" } }
        let first = try await Self.connections(client, server)

        // The same targets again (one renamed, one with a trailing slash) and a new one.
        try """
            connections:
              - {kind: http, name: renamed status page, url: "\(base)/status"}
              - {kind: prometheus, name: metrics, url: "\(base)/prometheus/"}
              - {kind: helm, name: charts, url: "\(base)/charts"}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        server.hangUp()
        try await waitUntil(timeout: .seconds(30)) { try await Self.connections(client, server).count >= 3 }
        let second = try await Self.connections(client, server)
        #expect(second.count == 3)
        #expect(Set(second.map(\.kind)) == ["http", "prometheus", "helm"])
        for item in first {
            #expect(second.first { $0.id == item.id }?.name == item.name, "a known target is found, not renamed or copied")
        }
        #expect(await server.stop() == 0)
        try await client.shutdown()
        await target.stop()
    }

    @Test func theOperatorsKubeconfigIsImportedAtStartUp() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cluster = try await KubernetesStandIn.start(in: folder, tokens: ["operator-token"])
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        // The way kubectl tools write them: files named relative to the kubeconfig's folder,
        // and $KUBECONFIG naming two files, the context in one and its user in the other (a
        // second "dev" context there loses to the first file's).
        let kube = folder.file("kube")
        let team = folder.file("team")
        for directory in [kube, team] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try FileManager.default.copyItem(atPath: cluster.pki.caCertificate, toPath: "\(kube)/ca.crt")
        try "operator-token\n".write(toFile: "\(team)/token", atomically: true, encoding: .utf8)
        try """
            apiVersion: v1
            kind: Config
            current-context: dev
            clusters: [{name: dev, cluster: {server: "\(cluster.tokenServerURL)", certificate-authority: ca.crt}}]
            contexts: [{name: dev, context: {cluster: dev, user: me}}]
            """.write(toFile: "\(kube)/config", atomically: true, encoding: .utf8)
        try """
            apiVersion: v1
            kind: Config
            clusters: [{name: elsewhere, cluster: {server: "https://127.0.0.1:9"}}]
            users: [{name: me, user: {tokenFile: token}}]
            contexts: [{name: dev, context: {cluster: elsewhere, user: me}}]
            """.write(toFile: "\(team)/config", atomically: true, encoding: .utf8)

        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"),
                                             environment: ["KUBECONFIG": "\(kube)/config:\(team)/config"])
        try await waitUntil(timeout: .seconds(30)) {
            try await Self.connections(client, server).contains { $0.kind == "kubernetes" && $0.status == "registered" }
        }
        let imported = try await Self.connections(client, server)
        #expect(imported.map(\.name) == ["dev"])
        #expect(await server.stop() == 0)
        try await client.shutdown()
        await cluster.stop()
    }
}
