import ConnectionLifecycle
import Testing

struct FingerprintTests {
    @Test(arguments: [
        ("HTTPS://Prom.Example:443/api/", "https://prom.example/api"),
        ("http://user:secret@grafana.example:80/#top", "http://grafana.example"),
        ("https://charts.example:8443/stable/", "https://charts.example:8443/stable"),
        ("http://127.0.0.1:9090/?", "http://127.0.0.1:9090"),
    ])
    func spellingsOfOneTargetAreOneTarget(_ spelling: String, _ normal: String) {
        #expect(Fingerprint.normalizedURL(spelling) == normal)
    }

    @Test func theKindAndThePathKeepTargetsApart() {
        let url = "https://observability.example"
        #expect(Fingerprint.of(kind: "prometheus", url: url) != Fingerprint.of(kind: "grafana", url: url))
        #expect(Fingerprint.of(kind: "http", url: "\(url)/a") != Fingerprint.of(kind: "http", url: "\(url)/b"))
        #expect(Fingerprint.of(kind: "http", url: "\(url)/?team=a") != Fingerprint.of(kind: "http", url: "\(url)/?team=b"))
        #expect(Fingerprint.of(kind: "http", url: nil) == nil)
    }
}
