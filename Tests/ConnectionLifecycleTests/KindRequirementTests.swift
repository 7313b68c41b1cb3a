import ConnectionLifecycle
import Testing

/// A kind says what its connections cannot work without; the check reads that data.
struct KindRequirementTests {
    let kubernetes = KindCatalog.builtIn["kubernetes"]

    @Test func aClusterNeedsAKubeconfigFromACredentialOrAFile() throws {
        let kind = try #require(kubernetes)
        #expect(kind.unmetRequirement(url: "https://10.0.0.1:6443", secretKeys: [], metadataKeys: []) == .kubeconfig)
        #expect(kind.unmetRequirement(url: nil, secretKeys: ["token"], metadataKeys: ["context"]) == .kubeconfig)
        #expect(kind.unmetRequirement(url: nil, secretKeys: ["kubeconfig", "context"], metadataKeys: []) == nil)
        #expect(kind.unmetRequirement(url: nil, secretKeys: [], metadataKeys: ["kubeconfigPath"]) == nil)
    }

    @Test func kindsWithoutRequirementsTakeAnything() throws {
        for name in ["prometheus", "grafana", "helm", "http", "meshery"] {
            let kind = try #require(KindCatalog.builtIn[name])
            #expect(kind.unmetRequirement(url: nil, secretKeys: [], metadataKeys: []) == nil, "\(name)")
        }
    }

    @Test func aURLRequirementIsMetOnlyByANonEmptyURL() {
        let kind = ConnectionKind(name: "x", type: "t", subType: "s", requirements: [
            KindRequirement(what: "an address", sources: [.url], field: "url", hint: "give url"),
        ])
        #expect(kind.unmetRequirement(url: "", secretKeys: [], metadataKeys: [])?.field == "url")
        #expect(kind.unmetRequirement(url: "http://x.example", secretKeys: [], metadataKeys: []) == nil)
    }
}
