import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import SwitchboardDrivers
import SwitchboardTestSupport
import Testing

/// A stored kubeconfig runs an exec plugin only when the operator placed it on the server:
/// one that arrived through the API never runs a command here.
struct KubeconfigTrustTests {
    struct Stored: CredentialSource {
        let secrets: SecretValues
        func secrets(for connection: Connection) async throws -> SecretValues { secrets }
    }

    @Test func execPluginsRunOnlyForTheOperatorsKubeconfigs() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let marker = folder.file("plugin-ran")
        let plugin = folder.file("plugin.sh")
        try """
            #!/bin/sh
            touch \(marker)
            echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}'
            """.write(toFile: plugin, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin)
        let kubeconfig = """
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
            users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: "\(plugin)"}}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            """
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let connection = Connection(name: "k", url: "https://127.0.0.1:1", kind: "kubernetes", type: "platform",
                                    subType: "orchestration", status: .registered, createdAt: Date(), updatedAt: Date())

        let uploaded = KubernetesDriver(http: OutboundHTTP(client: client),
                                        credentials: Stored(secrets: ["kubeconfig": kubeconfig, "context": "x"]), timeout: .seconds(1))
        let refused = await uploaded.verify(connection)
        #expect(refused.error?.contains("exec credential plugins run only") == true, "\(refused.error ?? "")")
        #expect(!FileManager.default.fileExists(atPath: marker))

        let placed = KubernetesDriver(http: OutboundHTTP(client: client), credentials: Stored(
            secrets: ["kubeconfig": kubeconfig, "context": "x", "execAllowed": "true"]), timeout: .seconds(1))
        _ = await placed.verify(connection)
        #expect(FileManager.default.fileExists(atPath: marker), "the operator's plugin should have run")
        try await client.shutdown()
    }
}
