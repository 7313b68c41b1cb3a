import AsyncHTTPClient
import Foundation
@testable import SwitchboardDrivers
import SwitchboardTestSupport
import Testing

/// A real metadata address to attack: a network namespace (and a mount namespace for its
/// own /etc/hosts) where 169.254.169.254 and fe80::254 are on the loopback interface and an
/// HTTP listener answers on port 80. The test process re-runs itself inside it to run
/// `insideTheNamespace`, which tries every spelling through `OutboundHTTP`; the listener's
/// log must show only the control requests of a client without the guard.
@Suite(.serialized) struct MetadataNamespaceTests {
    static let folderVariable = "SWITCHBOARD_METADATA_NAMESPACE"
    static var inside: String? { ProcessInfo.processInfo.environment[folderVariable] }

    /// Root (for the namespaces) and the tools, or CI, where their absence must fail.
    static var canRun: Bool {
        inside == nil && (ProcessInfo.processInfo.environment["CI"] != nil
            || (getuid() == 0 && ["unshare", "ip", "mount", "python3"].allSatisfy { ExternalServer.locate($0) != nil }))
    }

    /// What a member may type as a connection's url (and Kubernetes, Prometheus, Grafana and
    /// Helm drivers send their token to).
    static let attacks = [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe%251]/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:a9fe:a9fe%1]/latest/meta-data/",
        "http://[fe80::254%25lo]/",
        "http://[fe80::254%lo]/",
        "http://[fe80::254%251]/",
        "http://[fe80::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::a9fe:a9fe]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://0251.0376.0251.0376/",
        "http://metadata.test/",
        "https://metadata.test/",
        "http://linklocal.test/",
        "http://mapped.test/",
        "http://mixed.test/",
    ]

    /// The resolver reads no number here; it is refused unresolved, before any connection.
    static let unresolvable = ["http://169.254.169.254./"]

    static let hosts = """
        127.0.0.1 localhost
        ::1 localhost
        169.254.169.254 metadata.test
        fe80::254 linklocal.test
        ::ffff:169.254.169.254 mapped.test
        127.0.0.1 mixed.test
        169.254.169.254 mixed.test
        """

    /// Counts requests on [::]:80 (IPv4 too), one line each: address, Host, path.
    static let listener = """
        import http.server, socket, sys
        log = open(sys.argv[1], "a", buffering=1)
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                log.write(f"{self.client_address[0]} {self.headers.get('Host')} {self.path}\\n")
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            def log_message(self, *args):
                pass
        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6
            def server_bind(self):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                super().server_bind()
        server = Server(("::", 80), Handler)
        open(sys.argv[2], "w").write("ready")
        server.serve_forever()
        """

    /// `$1` the folder; the rest the command to run once the listener is up.
    static let setup = """
        set -eu
        folder=$1; shift
        ip link set lo up
        ip addr add 169.254.169.254/32 dev lo
        ip -6 addr add fe80::254/64 dev lo
        mount --bind "$folder/hosts" /etc/hosts
        python3 "$folder/listener.py" "$folder/requests.log" "$folder/ready" &
        listener=$!
        for _ in $(seq 100); do [ -f "$folder/ready" ] && break; sleep 0.1; done
        status=0
        env \(folderVariable)="$folder" "$@" || status=$?
        kill "$listener"
        exit "$status"
        """

    @Test(.enabled(if: canRun), .timeLimit(.minutes(2)))
    func theMetadataListenerIsNeverContacted() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try Self.hosts.write(toFile: folder.file("hosts"), atomically: true, encoding: .utf8)
        try Self.listener.write(toFile: folder.file("listener.py"), atomically: true, encoding: .utf8)
        try Self.setup.write(toFile: folder.file("setup.sh"), atomically: true, encoding: .utf8)
        // This test binary again, running only the inside half.
        let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let arguments = ["--net", "--mount", "--", "sh", folder.file("setup.sh"), folder.path, binary,
                         "--testing-library", "swift-testing", "--filter", "MetadataNamespaceTests/insideTheNamespace"]
        let output = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try Program.run("unshare", arguments) })
            }
        }
        #expect(output.status == 0, "the namespace or the inside half failed:\n\(output.text)")
        // Not vacuous: the inside half ran to its end, and the controls reached the listener.
        #expect(FileManager.default.fileExists(atPath: folder.file("finished")), "\(output.text)")
        let log = (try? String(contentsOfFile: folder.file("requests.log"), encoding: .utf8)) ?? ""
        let requests = log.split(separator: "\n")
        #expect(requests.count == 3 && requests.allSatisfy { $0.hasSuffix("/control") }, "listener saw:\n\(log)")
    }

    @Test(.enabled(if: inside != nil))
    func insideTheNamespace() async throws {
        let folder = try #require(Self.inside)
        let log = "\(folder)/requests.log"
        func requestCount() -> Int {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count
        }
        // Controls: a client without the guard reaches the listener on each address.
        let plain = HTTPClient(eventLoopGroupProvider: .singleton)
        for url in ["http://169.254.169.254/control", "http://[fe80::254%25lo]/control", "http://mapped.test/control"] {
            do {
                let response = try await plain.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
                #expect(response.status == .ok, "\(url)")
            } catch {
                Issue.record("control \(url) did not reach the listener: \(error)")
            }
        }
        try await plain.shutdown()
        #expect(requestCount() == 3)

        let client = OutboundHTTP.makeClient()
        let http = OutboundHTTP(client: client)
        for url in Self.attacks + Self.unresolvable {
            do {
                let response = try await http.request(url, timeout: .seconds(3))
                Issue.record("\(url) was let through: HTTP \(response.status)")
            } catch let error as OutboundError {
                switch error {
                case .blockedAddress, .zoneIdentifier: break
                case .unresolvable where Self.unresolvable.contains(url): break
                default: Issue.record("\(url) failed, but not at the guard: \(error)")
                }
            } catch {
                Issue.record("\(url) failed, but not at the guard: \(OutboundHTTP.describe(error))")
            }
        }
        try await client.shutdown()
        #expect(requestCount() == 3, "the listener was contacted past the guard")
        _ = FileManager.default.createFile(atPath: "\(folder)/finished", contents: nil)
    }
}
