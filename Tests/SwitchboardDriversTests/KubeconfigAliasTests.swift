import Foundation
import SwitchboardDrivers
import Testing

/// YAML aliases in a kubeconfig: as keys they are refused before Yams hashes them (found
/// while fuzzing the kubeconfig parser; see `YAMLAliases`); in uploads they are refused
/// anywhere, and every import is capped in size whether or not it uses them.
struct KubeconfigAliasTests {
    /// `? *a<levels>` where each `a<n>` is ten `*a<n-1>`: 10^levels leaves behind one key.
    static func aliasBomb(levels: Int, asKey: Bool) -> String {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1...levels {
            lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]")
        }
        lines.append(asKey ? "? [*a\(levels)]\n: big" : "big: *a\(levels)")
        lines.append("clusters: []")
        return lines.joined(separator: "\n") + "\n"
    }

    @Test(.timeLimit(.minutes(1)))
    func anAliasInAKeyIsRefusedAtOnce() throws {
        let error = #expect(throws: DriverError.self) { try Kubeconfig.parse(Self.aliasBomb(levels: 10, asKey: true)) }
        #expect(error?.description.contains("a key at line 12, column 4 is an alias") == true, "\(String(describing: error))")
    }

    @Test(.timeLimit(.minutes(1)))
    func aliasesAsValuesStillWork() throws {
        #expect(try Kubeconfig.parse(Self.aliasBomb(levels: 10, asKey: false)).clusters.isEmpty)
        let config = try Kubeconfig.parse("""
            clusters:
            - &a {name: a, cluster: &server {server: "https://a.example"}}
            - {<<: *a, name: b}
            - {name: c, cluster: *server}
            contexts:
            - {name: one, context: {cluster: b}}
            """)
        #expect(config.clusters.map(\.name) == ["a", "b", "c"])
        #expect(Set(config.clusters.map(\.cluster.server)) == ["https://a.example"])
        #expect(try config.resolve(context: "one").cluster.server == "https://a.example")
    }

    /// The amplification: one large token, named by alias from every user, each user with a
    /// context of its own (the attack used 880 KB and 256 users).
    static func amplifier(users: Int, tokenBytes: Int) -> String {
        var lines = ["apiVersion: v1", "kind: Config", "preferences: {big: &big \(String(repeating: "t", count: tokenBytes))}",
                     "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]", "users:"]
        lines += (0..<users).map { "- {name: u\($0), user: {token: *big}}" }
        lines.append("contexts:")
        lines += (0..<users).map { "- {name: x\($0), context: {cluster: c, user: u\($0)}}" }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test(.timeLimit(.minutes(1)))
    func anUploadWithAnAliasAnywhereIsRefusedWithItsPlace() throws {
        let error = #expect(throws: DriverError.self) {
            try KubeconfigImport.contexts(in: Self.amplifier(users: 64, tokenBytes: 10_000), origin: .uploaded)
        }
        #expect(error?.description.contains("line 6, column 28 is an alias") == true, "\(String(describing: error))")
        // A merge key is an alias too.
        let merged = """
            clusters:
            - &a {name: a, cluster: {server: "https://a.example"}}
            - {<<: *a, name: b}
            contexts: [{name: one, context: {cluster: b}}]
            """
        #expect(throws: DriverError.self) { try KubeconfigImport.contexts(in: merged, origin: .uploaded) }
        // A file the operator placed on the server may still use them (within the caps).
        let folder = FileManager.default.temporaryDirectory.path
        #expect(try KubeconfigImport.contexts(in: merged, origin: .operatorFile(directory: folder)).count == 1)
    }

    @Test func oneValueOverTheCapIsRefusedByName() throws {
        let config = """
            clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]
            users: [{name: robot, user: {token: \(String(repeating: "t", count: 64 * 1024 + 1))}}]
            contexts: [{name: x, context: {cluster: c, user: robot}}]
            """
        for origin in [KubeconfigOrigin.uploaded, .operatorFile(directory: "/")] {
            let error = #expect(throws: DriverError.self) { try KubeconfigImport.contexts(in: config, origin: origin) }
            #expect(error?.description.contains("user 'robot' has a token of 65537 bytes; the limit is 64 KiB") == true,
                    "\(String(describing: error))")
        }
        // At the cap it is fine.
        let atCap = config.replacingOccurrences(of: String(repeating: "t", count: 64 * 1024 + 1),
                                                with: String(repeating: "t", count: 64 * 1024))
        #expect(try KubeconfigImport.contexts(in: atCap, origin: .uploaded).count == 1)
    }

    /// Without any alias, many clusters sharing one user's large token would each store a copy.
    @Test func theWholeImportIsCapped() throws {
        let clusters = (0..<300).map { "- {name: c\($0), cluster: {server: 'https://10.0.\($0 / 250).\($0 % 250 + 1)'}}" }
        let contexts = (0..<300).map { "- {name: x\($0), context: {cluster: c\($0), user: shared}}" }
        let config = (["clusters:"] + clusters
            + ["users: [{name: shared, user: {token: \(String(repeating: "t", count: 60_000))}}]", "contexts:"] + contexts)
            .joined(separator: "\n")
        #expect(config.utf8.count < 100_000)
        let error = #expect(throws: DriverError.self) { try KubeconfigImport.contexts(in: config, origin: .uploaded) }
        #expect(error?.description.contains("the limit is 16 MiB per import") == true, "\(String(describing: error))")

        let many = "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\ncontexts:\n"
            + (0...1_000).map { "- {name: x\($0), context: {cluster: c}}" }.joined(separator: "\n")
        let counted = #expect(throws: DriverError.self) { try KubeconfigImport.contexts(in: many, origin: .uploaded) }
        #expect(counted?.description.contains("1001 contexts; the limit is 1000") == true, "\(String(describing: counted))")
    }
}
