import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL
import Synchronization

/// A stand-in for a Kubernetes API server: there is none on these machines. It speaks the
/// parts of the real protocol Switchboard uses, over TLS with a test CA:
/// `/version`, `/readyz`, and list and watch (`?watch=true&resourceVersion=N`, one JSON
/// event per line, ADDED/MODIFIED/DELETED/BOOKMARK, ERROR 410 for a version that is too
/// old) of namespaces, nodes and services (with labels and ports), with resourceVersions
/// that increase per change, and the service proxy
/// (`/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/...`) for services a test says
/// answer as Prometheus or Grafana.
///
/// It listens twice, as two ways in to the same cluster: one port authenticates bearer
/// tokens (401 with a Status body for a missing or revoked token, as the API server does),
/// the other requires a client certificate signed by the test CA (the TLS handshake
/// rejects anything else). A real API server accepts both on one port.
public final class KubernetesStandIn: Sendable {
    public let pki: TestPKI
    /// The loopback address both servers listen on.
    public let host: String
    public let tokenPort: Int
    public let certificatePort: Int
    private let servers: [LiveServer]
    private let state: ClusterState
    private let tokens: TokenSet
    private let proxies: ProxyPersonas

    public var tokenServerURL: String { "https://\(host):\(tokenPort)" }

    /// A kubeconfig as a person would upload it, with two contexts for this cluster: `lab`
    /// signs in with `token`, `lab-cloud` uses an auth-provider (which uploads may not).
    public func uploadableKubeconfig(token: String) throws -> String {
        """
        apiVersion: v1
        kind: Config
        clusters:
        - {name: lab, cluster: {server: "\(tokenServerURL)", certificate-authority-data: \(try pki.base64(pki.caCertificate))}}
        users:
        - {name: me, user: {token: \(token)}}
        - {name: cloud, user: {auth-provider: {name: gcp}}}
        contexts:
        - {name: lab, context: {cluster: lab, user: me}}
        - {name: lab-cloud, context: {cluster: lab, user: cloud}}
        """
    }
    public var certificateServerURL: String { "https://\(host):\(certificatePort)" }

    public static func start(in folder: TemporaryDirectory, tokens: Set<String>,
                             host: String = "127.0.0.1") async throws -> KubernetesStandIn {
        // Its own folder: two stand-ins in one test must not share (and overwrite) a CA.
        let pki = try TestPKI(in: folder.file("pki-\(UUID().lowercasedString)"))
        let state = ClusterState()
        let valid = TokenSet(tokens)
        let proxies = ProxyPersonas()
        let certificate = try NIOSSLCertificate.fromPEMFile(pki.serverCertificate).map { NIOSSLCertificateSource.certificate($0) }
        let key = NIOSSLPrivateKeySource.privateKey(try NIOSSLPrivateKey(file: pki.serverKey, format: .pem))

        let tokenTLS = TLSConfiguration.makeServerConfiguration(certificateChain: certificate, privateKey: key)
        var certificateTLS = TLSConfiguration.makeServerConfiguration(certificateChain: certificate, privateKey: key)
        certificateTLS.certificateVerification = .noHostnameVerification
        certificateTLS.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(pki.caCertificate))

        let tokenServer = try await LiveServer.start(
            router: Self.router(state: state, proxies: proxies, authenticate: { request in
                guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
                let token = String(header.dropFirst("Bearer ".count))
                return valid.contains(token)
            }),
            server: try .tls(.http1(), tlsConfiguration: tokenTLS), host: host)
        // The TLS layer has verified the client certificate before any request arrives.
        let certificateServer = try await LiveServer.start(
            router: Self.router(state: state, proxies: proxies, authenticate: { _ in true }),
            server: try .tls(.http1(), tlsConfiguration: certificateTLS), host: host)
        return KubernetesStandIn(pki: pki, host: host, tokenPort: tokenServer.port, certificatePort: certificateServer.port,
                                 servers: [tokenServer, certificateServer], state: state, tokens: valid, proxies: proxies)
    }

    private init(pki: TestPKI, host: String, tokenPort: Int, certificatePort: Int, servers: [LiveServer], state: ClusterState,
                 tokens: TokenSet, proxies: ProxyPersonas) {
        self.proxies = proxies
        self.pki = pki
        self.host = host
        self.tokenPort = tokenPort
        self.certificatePort = certificatePort
        self.servers = servers
        self.state = state
        self.tokens = tokens
    }

    /// Adds a service (watchers see it). `answersAs` makes the API server's service proxy
    /// for `name:port` answer like that product (`prometheus` or `grafana`); `nil` leaves
    /// the proxy answering 503, as for a service with no ready endpoints.
    public func addService(_ name: String, namespace: String, labels: [String: String] = [:], port: Int,
                           answersAs persona: String? = nil) async {
        proxies.set("\(namespace)/\(name):\(port)", persona)
        await state.put("services", name: name, namespace: namespace, labels: labels, ports: [port])
    }

    public func revoke(_ token: String) { tokens.remove(token) }
    public func allow(_ token: String) { tokens.insert(token) }

    /// Creates a namespace, as `kubectl create namespace` would; watchers see it.
    public func createNamespace(_ name: String) async { await state.put("namespaces", name: name, namespace: nil) }
    public func deleteNamespace(_ name: String) async { await state.delete("namespaces", key: name) }

    /// Ends every watch (a graceful shutdown waits for open responses), then the servers.
    public func stop() async {
        await state.closeWatches()
        for server in servers { await server.stop() }
    }

    private static func unauthorized() -> Response {
        json(#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#,
             status: .unauthorized)
    }

    private static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private static func router(state: ClusterState, proxies: ProxyPersonas,
                               authenticate: @escaping @Sendable (Request) -> Bool) -> Router<BasicRequestContext> {
        let router = Router()
        // The service proxy: /api/v1/namespaces/<ns>/services/<name>:<port>/proxy/<path>.
        router.get("api/v1/namespaces/{namespace}/services/{service}/proxy/**") { request, context in
            guard authenticate(request) else { return unauthorized() }
            let key = "\(context.parameters.get("namespace") ?? "")/\(context.parameters.get("service") ?? "")"
            guard let persona = proxies.get(key) else {
                return json(#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service","reason":"ServiceUnavailable","code":503}"#,
                            status: .serviceUnavailable)
            }
            let path = request.uri.path
            let answersLikeProduct = persona == "prometheus"
                ? path.hasSuffix("/-/ready") || path.hasSuffix("/api/v1/status/buildinfo") || path.hasSuffix("/api/v1/query")
                : path.hasSuffix("/api/health") || path.hasSuffix("/api/search")
            return answersLikeProduct ? HealthyAnswers.response(for: path) : Response(status: .notFound)
        }
        router.get("version") { request, _ in
            guard authenticate(request) else { return unauthorized() }
            return json(#"{"major":"1","minor":"29","gitVersion":"v1.29.4-switchboard-stand-in","platform":"linux/amd64"}"#)
        }
        router.get("readyz") { request, _ in
            guard authenticate(request) else { return unauthorized() }
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        for kind in ["namespaces", "nodes", "services"] {
            router.get(RouterPath("api/v1/\(kind)")) { request, _ in
                guard authenticate(request) else { return unauthorized() }
                let query = request.uri.queryParameters
                guard query.get("watch") == "true" || query.get("watch") == "1" else {
                    return json(await state.list(kind))
                }
                let since = Int(query.get("resourceVersion") ?? "") ?? 0
                guard let stream = await state.watch(kind, since: since) else {
                    return json(#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}}"# + "\n")
                }
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: ResponseBody(asyncSequence: stream))
            }
        }
        return router
    }
}

/// What the service proxy answers as, by `namespace/name:port`.
final class ProxyPersonas: Sendable {
    private let personas = Mutex<[String: String]>([:])
    func set(_ key: String, _ persona: String?) { personas.withLock { $0[key] = persona } }
    func get(_ key: String) -> String? { personas.withLock { $0[key] } }
}

/// The bearer tokens the stand-in accepts; tests revoke and allow them while it runs.
final class TokenSet: Sendable {
    private let tokens: Mutex<Set<String>>
    init(_ tokens: Set<String>) { self.tokens = Mutex(tokens) }
    func contains(_ token: String) -> Bool { tokens.withLock { $0.contains(token) } }
    func remove(_ token: String) { _ = tokens.withLock { $0.remove(token) } }
    func insert(_ token: String) { _ = tokens.withLock { $0.insert(token) } }
}

/// The stand-in cluster's objects, change log and open watches.
actor ClusterState {
    private struct Change {
        var version: Int
        var kind: String
        var type: String
        var object: String
    }

    private var version = 100
    private var objects: [String: [String: String]] = [:]
    private var changes: [Change] = []
    /// Changes before this version are forgotten: watching from earlier answers 410.
    private var oldestWatchable = 0
    private var watchers: [UUID: (kind: String, continuation: AsyncStream<ByteBuffer>.Continuation)] = [:]
    /// Once the stand-in stops, watches end at once instead of staying open.
    private var closed = false

    init() {
        var version = 100
        var objects: [String: [String: String]] = [:]
        let initial: [(String, String, String?)] = [
            ("namespaces", "default", nil), ("namespaces", "kube-system", nil), ("namespaces", "kube-public", nil),
            ("nodes", "node-a", nil), ("nodes", "node-b", nil),
            ("services", "kubernetes", "default"), ("services", "kube-dns", "kube-system"),
        ]
        for (kind, name, namespace) in initial {
            version += 1
            objects[kind, default: [:]][namespace.map { "\($0)/\(name)" } ?? name] =
                Self.object(name: name, namespace: namespace, version: version)
        }
        self.version = version
        self.objects = objects
        self.oldestWatchable = version
    }

    private func object(name: String, namespace: String?) -> String {
        Self.object(name: name, namespace: namespace, version: version)
    }

    private static func object(name: String, namespace: String?, version: Int, labels: [String: String] = [:],
                               ports: [Int] = []) -> String {
        let namespaceField = namespace.map { #","namespace":"\#($0)""# } ?? ""
        let labelsField = labels.isEmpty ? "" : #","labels":{"# + labels.sorted { $0.key < $1.key }
            .map { #""\#($0.key)":"\#($0.value)""# }.joined(separator: ",") + "}"
        let specField = ports.isEmpty ? "" : #","spec":{"ports":["# + ports.map { #"{"port":\#($0),"protocol":"TCP"}"# }
            .joined(separator: ",") + "]}"
        return #"{"metadata":{"name":"\#(name)"\#(namespaceField),"uid":"\#(UUID().lowercasedString)","resourceVersion":"\#(version)"\#(labelsField)}\#(specField)}"#
    }

    func list(_ kind: String) -> String {
        let items = (objects[kind] ?? [:]).keys.sorted().compactMap { objects[kind]?[$0] }.joined(separator: ",")
        let listKind = kind == "namespaces" ? "NamespaceList" : kind == "nodes" ? "NodeList" : "ServiceList"
        return #"{"kind":"\#(listKind)","apiVersion":"v1","metadata":{"resourceVersion":"\#(version)"},"items":[\#(items)]}"#
    }

    func put(_ kind: String, name: String, namespace: String?, labels: [String: String] = [:], ports: [Int] = []) {
        version += 1
        let key = namespace.map { "\($0)/\(name)" } ?? name
        let type = objects[kind]?[key] == nil ? "ADDED" : "MODIFIED"
        let body = Self.object(name: name, namespace: namespace, version: version, labels: labels, ports: ports)
        objects[kind, default: [:]][key] = body
        record(Change(version: version, kind: kind, type: type, object: body))
    }

    func delete(_ kind: String, key: String) {
        guard let body = objects[kind]?.removeValue(forKey: key) else { return }
        version += 1
        record(Change(version: version, kind: kind, type: "DELETED", object: body))
    }

    private func record(_ change: Change) {
        changes.append(change)
        for (_, watcher) in watchers where watcher.kind == change.kind {
            watcher.continuation.yield(Self.line(change))
        }
    }

    /// The changes after `since`, then live ones; nil when `since` is too old.
    func watch(_ kind: String, since: Int) -> AsyncStream<ByteBuffer>? {
        guard since >= oldestWatchable else { return nil }
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        if closed {
            continuation.finish()
            return stream
        }
        for change in changes where change.kind == kind && change.version > since {
            continuation.yield(Self.line(change))
        }
        let id = UUID()
        watchers[id] = (kind, continuation)
        continuation.onTermination = { _ in Task { await self.forget(id) } }
        return stream
    }

    func closeWatches() {
        closed = true
        for (_, watcher) in watchers { watcher.continuation.finish() }
        watchers.removeAll()
    }

    private func forget(_ id: UUID) { watchers[id] = nil }

    private static func line(_ change: Change) -> ByteBuffer {
        ByteBuffer(string: #"{"type":"\#(change.type)","object":\#(change.object)}"# + "\n")
    }
}
