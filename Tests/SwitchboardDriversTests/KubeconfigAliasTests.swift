import SwitchboardDrivers
import Testing

/// YAML aliases in a kubeconfig: as values they work, as keys they are refused before Yams
/// hashes them (found while fuzzing the kubeconfig parser; see `YAMLAliasKeys`).
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
}
