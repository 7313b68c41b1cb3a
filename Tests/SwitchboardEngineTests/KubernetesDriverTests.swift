import ConnectionLifecycle
import Foundation
import SwitchboardDrivers
import SwitchboardEngine
import SwitchboardTestSupport
import Testing

/// Kubernetes connections against the API server stand-in (`KubernetesStandIn`: there is
/// no Kubernetes API server on these machines), with a kubeconfig on disk using each
/// authentication form: a bearer token, a client certificate, an exec credential plugin.
@Suite(.enabled(if: ExternalServer.shouldRun(needing: "openssl")), .serialized)
struct KubernetesDriverTests {
    static let token = "switchboard-test-token-1"
    static let execToken = "exec-issued-token-7"

    /// Writes a kubeconfig with one context per auth form, the way kubectl would read it:
    /// relative file paths, inline base64 data, an exec plugin script.
    static func writeKubeconfig(in folder: TemporaryDirectory, cluster: KubernetesStandIn) throws -> String {
        let pki = cluster.pki
        try FileManager.default.copyItem(atPath: pki.caCertificate, toPath: folder.file("ca.crt"))
        let plugin = folder.file("exec-plugin.sh")
        try """
            #!/bin/sh
            # Counts its runs, so the test can see credentials are cached until they expire.
            echo run >> "$(dirname "$0")/exec-runs.log"
            [ -n "$KUBERNETES_EXEC_INFO" ] || { echo "no KUBERNETES_EXEC_INFO" >&2; exit 1; }
            cat <<JSON
            {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
             "status": {"token": "$ISSUED_TOKEN", "expirationTimestamp": "2099-01-01T00:00:00Z"}}
            JSON
            """.write(toFile: plugin, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin)
        let kubeconfig = folder.file("kubeconfig")
        try """
            apiVersion: v1
            kind: Config
            current-context: token
            clusters:
              - name: via-token
                cluster:
                  server: \(cluster.tokenServerURL)
                  certificate-authority: ca.crt
              - name: via-certificate
                cluster:
                  server: \(cluster.certificateServerURL)
                  certificate-authority-data: \(try pki.base64(pki.caCertificate))
              - name: wrong-ca
                cluster:
                  server: \(cluster.tokenServerURL)
                  certificate-authority: \(pki.otherCACertificate)
            users:
              - name: token-user
                user:
                  token: \(token)
              - name: certificate-user
                user:
                  client-certificate: \(pki.clientCertificate)
                  client-key-data: \(try pki.base64(pki.clientKey))
              - name: exec-user
                user:
                  exec:
                    apiVersion: client.authentication.k8s.io/v1
                    command: ./exec-plugin.sh
                    env:
                      - name: ISSUED_TOKEN
                        value: \(execToken)
            contexts:
              - name: token
                context: {cluster: via-token, user: token-user}
              - name: certificate
                context: {cluster: via-certificate, user: certificate-user}
              - name: exec
                context: {cluster: via-token, user: exec-user}
              - name: bad-ca
                context: {cluster: wrong-ca, user: token-user}
            """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        return kubeconfig
    }

    @Test func connectsWithEachAuthFormReadsTheInventoryAndNoticesARevokedToken() async throws {
        try await MonitorHarness.run { harness in
            let cluster = try await KubernetesStandIn.start(in: harness.folder, tokens: [Self.token, Self.execToken])
            let kubeconfig = try Self.writeKubeconfig(in: harness.folder, cluster: cluster)
            func metadata(_ context: String) -> [String: JSONValue] {
                ["kubeconfigPath": .string(kubeconfig), "context": .string(context)]
            }

            var connections: [String: Connection] = [:]
            for context in ["token", "certificate", "exec"] {
                let connection = try await harness.connection("cluster-\(context)", kind: "kubernetes",
                                                              url: "https://cluster.example", path: [.registered, .connected],
                                                              metadata: metadata(context))
                #expect(connection.status == .connected, "\(context)")
                connections[context] = connection
                let (_, ping) = try await harness.engine.ping(connection.id)
                #expect(ping.isReachable && ping.details["version"] == "v1.29.4-switchboard-stand-in", "\(context): \(ping)")
            }

            // Each session lists the inventory, then follows changes through the watch.
            for (context, connection) in connections {
                try await waitUntil {
                    let data = try await harness.store.collectedData(connectionId: connection.id)
                    return data["namespaces"]?.value == .array(["default", "kube-public", "kube-system"].map(JSONValue.string))
                        && data["nodes"]?.value == .array([.string("node-a"), .string("node-b")])
                        && data["services"]?.value == .array([.string("default/kubernetes"), .string("kube-system/kube-dns")])
                }
                #expect(try await harness.status(connection.id) == .connected, "\(context)")
            }
            await cluster.createNamespace("payments")
            for connection in connections.values {
                try await waitUntil {
                    guard case .array(let names)? = try await harness.store.collectedData(connectionId: connection.id)["namespaces"]?.value
                    else { return false }
                    return names.contains(.string("payments"))
                }
            }
            await cluster.deleteNamespace("kube-public")
            try await waitUntil {
                guard case .array(let names)? = try await harness.store.collectedData(connectionId: try #require(connections["token"]).id)["namespaces"]?.value
                else { return false }
                return !names.contains(.string("kube-public"))
            }

            // The exec plugin ran once: its credential is cached until it expires.
            let runs = try String(contentsOfFile: harness.folder.file("exec-runs.log"), encoding: .utf8)
            #expect(runs.split(separator: "\n").count == 1, "exec plugin runs: \(runs)")

            // Revoking the token: three unauthorized checks later, the connection is disconnected.
            cluster.revoke(Self.token)
            let revoked = try #require(connections["token"])
            try await harness.waitForStatus(revoked.id, .disconnected)
            let event = try #require(try await harness.history(revoked.id).last)
            #expect(event.actorRole == .system && event.from == .connected)
            #expect(event.reason?.contains("401") == true && event.reason?.contains("unauthorized") == true,
                    "\(event.reason ?? "")")
            #expect(try await harness.health(revoked.id)?.state == .unauthorized)
            #expect(try await harness.status(try #require(connections["certificate"]).id) == .connected)
            await cluster.stop()
        }
    }

    @Test func wrongCertificateAuthorityAndMissingContextAreClearFailures() async throws {
        try await MonitorHarness.run { harness in
            let cluster = try await KubernetesStandIn.start(in: harness.folder, tokens: [Self.token])
            let kubeconfig = try Self.writeKubeconfig(in: harness.folder, cluster: cluster)
            let badCA = try await harness.engine.create(NewConnection(
                name: "bad-ca", url: "https://cluster.example", kind: "kubernetes",
                metadata: ["kubeconfigPath": .string(kubeconfig), "context": .string("bad-ca")]), by: .user("tester"))
            let (_, result) = try await harness.engine.ping(badCA.id)
            #expect(result.health == .unreachable && result.error?.contains("TLS") == true, "\(result.error ?? "")")

            let missing = try await harness.engine.create(NewConnection(
                name: "missing", url: "https://cluster.example", kind: "kubernetes",
                metadata: ["kubeconfigPath": .string(kubeconfig), "context": .string("nope")]), by: .user("tester"))
            let (_, missingResult) = try await harness.engine.ping(missing.id)
            #expect(missingResult.health == .unknown && missingResult.error?.contains("no context 'nope'") == true,
                    "\(missingResult.error ?? "")")
            await cluster.stop()
        }
    }

    @Test func kubeconfigParsing() throws {
        let config = try Kubeconfig.parse("""
            apiVersion: v1
            kind: Config
            current-context: b
            clusters:
              - {name: one, cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}}
            users:
              - {name: u, user: {tokenFile: /var/run/token}}
            contexts:
              - {name: a, context: {cluster: one, user: u, namespace: apps}}
              - {name: b, context: {cluster: one, user: u}}
            """)
        let resolved = try config.resolve(context: nil)
        #expect(resolved.context == "b" && resolved.cluster.insecureSkipTLSVerify == true)
        #expect(resolved.user.tokenFile == "/var/run/token")
        #expect(throws: DriverError.self) { try config.resolve(context: "c") }
        #expect(throws: DriverError.self) { try Kubeconfig.parse("clusters: 7") }
    }
}
