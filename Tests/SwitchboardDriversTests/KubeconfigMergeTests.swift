import SwitchboardDrivers
import Testing

/// `$KUBECONFIG` with several files, merged as kubectl merges it.
struct KubeconfigMergeTests {
    @Test func theFirstDefinitionOfEachNameWinsAndFilesKeepTheirFolders() throws {
        let first = try Kubeconfig.parse("""
            current-context: prod
            clusters:
            - {name: prod, cluster: {server: "https://prod.example", certificate-authority: ca/prod.crt}}
            contexts:
            - {name: prod, context: {cluster: prod, user: alice}}
            """).resolvingFiles(in: "/home/ops/.kube")
        let second = try Kubeconfig.parse("""
            current-context: staging
            clusters:
            - {name: prod, cluster: {server: "https://impostor.example"}}
            - {name: staging, cluster: {server: "https://staging.example", certificate-authority: /etc/ca.crt}}
            users:
            - {name: alice, user: {tokenFile: tokens/alice, client-key: ../keys/alice.key}}
            - {name: bob, user: {exec: {command: ./bin/login, args: [x]}}}
            - {name: carol, user: {exec: {command: gke-gcloud-auth-plugin}}}
            contexts:
            - {name: prod, context: {cluster: staging, user: bob}}
            - {name: staging, context: {cluster: staging, user: carol}}
            """).resolvingFiles(in: "/srv/team")
        let merged = Kubeconfig.merging([first, second])

        #expect(merged.currentContext == "prod")
        #expect(merged.clusters.map(\.name) == ["prod", "staging"])
        #expect(merged.clusters[0].cluster.server == "https://prod.example")
        #expect(merged.clusters[0].cluster.certificateAuthority == "/home/ops/.kube/ca/prod.crt")
        #expect(merged.clusters[1].cluster.certificateAuthority == "/etc/ca.crt")
        #expect(merged.contexts.map(\.name) == ["prod", "staging"])
        #expect(merged.contexts[0].context.user == "alice", "the first file's context wins")
        // The context from the first file uses a user the second file defines, with its folder.
        let (_, cluster, user) = try merged.resolve(context: "prod")
        #expect(cluster.server == "https://prod.example")
        #expect(user.tokenFile == "/srv/team/tokens/alice")
        #expect(user.clientKey == "/srv/team/../keys/alice.key")
        #expect(merged.users.first { $0.name == "bob" }?.user.exec?.command == "/srv/team/./bin/login")
        #expect(merged.users.first { $0.name == "carol" }?.user.exec?.command == "gke-gcloud-auth-plugin",
                "a plugin named without a path is looked up on PATH")
        // It reads back as the same configuration.
        #expect(try Kubeconfig.parse(try merged.yaml()) == merged)
    }
}
