import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import NIOCore

/// Kubernetes: the connection's metadata names a kubeconfig (`kubeconfigPath`) and a
/// `context`. Verify asks the API server for `/version` and `/readyz` with the context's
/// credentials (a 401 or 403 is unauthorized, not reachable); the probe asks `/readyz`.
/// While connected, the session lists and then watches namespaces, nodes and services
/// (resuming from the last `resourceVersion`, relisting when it is too old) and keeps them
/// as the connection's inventory.
public struct KubernetesDriver: ConnectionDriver {
    let http: OutboundHTTP
    let resolver: KubernetesAuthResolver
    let timeout: Duration

    /// Inventory kinds: collected-data key and list path.
    static let resources: [(key: String, path: String)] = [
        ("namespaces", "/api/v1/namespaces"), ("nodes", "/api/v1/nodes"), ("services", "/api/v1/services"),
    ]

    public init(http: OutboundHTTP, credentials: any CredentialSource, timeout: Duration = .seconds(5)) {
        self.http = http
        self.resolver = KubernetesAuthResolver(credentials: credentials, execCache: .shared)
        self.timeout = timeout
    }

    /// API server, CA and user from the kubeconfig; the url when it cannot be read.
    public func fingerprint(of connection: Connection) async -> String? {
        if let secrets = try? await resolver.credentials.secrets(for: connection),
           let fingerprint = KubernetesIdentity.fingerprint(from: secrets) {
            return fingerprint
        }
        return Fingerprint.of(kind: connection.kind, url: connection.url)
    }

    public func verify(_ connection: Connection) async -> CheckResult {
        let watch = Stopwatch()
        do {
            let endpoint = try await resolver.endpoint(for: connection)
            let version = try await get(endpoint, "/version", timeout: timeout)
            guard (200..<300).contains(version.status) else {
                return await classified(version.status, "/version", watch)
            }
            let gitVersion = (try? JSONDecoder().decode(Version.self, from: version.bodyData))?.gitVersion ?? "unknown"
            let ready = try await get(endpoint, "/readyz", timeout: timeout)
            guard (200..<300).contains(ready.status) else { return await classified(ready.status, "/readyz", watch) }
            return CheckResult(health: .reachable, latency: watch.elapsed,
                               details: ["version": gitVersion, "context": endpoint.contextName])
        } catch {
            return .failed(error, latency: watch.elapsed)
        }
    }

    public func probe(_ connection: Connection, timeout: Duration) async -> CheckResult {
        let watch = Stopwatch()
        do {
            let endpoint = try await resolver.endpoint(for: connection)
            let ready = try await get(endpoint, "/readyz", timeout: timeout)
            return await classified(ready.status, "/readyz", watch)
        } catch {
            return .failed(error, latency: watch.elapsed)
        }
    }

    public func runSession(_ connection: Connection, sink: any CollectedDataSink) async throws {
        // Service changes wake the scan, which runs beside the watches (never inside one)
        // and folds a burst of changes into one pass.
        let (servicesChanged, signal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for resource in Self.resources {
                let isServices = resource.key == "services"
                group.addTask {
                    try await follow(resource, of: connection, sink: sink) { if isServices { signal.yield() } }
                }
            }
            group.addTask { try await scanOnChange(servicesChanged, of: connection, sink: sink) }
            try await group.waitForAll()
        }
    }

    // MARK: Inventory

    private struct ObjectList: Decodable {
        var metadata: ListMeta
        var items: [Object]
        struct ListMeta: Decodable { var resourceVersion: String? }
    }

    struct Object: Decodable {
        var metadata: Meta
        /// Statuses and bookmarks carry metadata without a name.
        struct Meta: Decodable {
            var name: String?
            var namespace: String?
            var resourceVersion: String?
        }
        var key: String? { metadata.name.map { name in metadata.namespace.map { "\($0)/\(name)" } ?? name } }
    }

    private struct WatchEvent: Decodable {
        var type: String
        var object: EventObject
    }

    /// A watch event's object: a resource, or a Status when the type is ERROR.
    private struct EventObject: Decodable {
        var metadata: Object.Meta?
        var code: Int?
        var message: String?
    }

    /// Lists a resource, then watches it from the list's resourceVersion, saving the names
    /// after every change; relists when the server says the version is gone (410).
    private func follow(_ resource: (key: String, path: String), of connection: Connection,
                        sink: any CollectedDataSink, changed: @Sendable () -> Void) async throws {
        while !Task.isCancelled {
            let endpoint = try await resolver.endpoint(for: connection)
            let listing = try await get(endpoint, resource.path, timeout: timeout)
            guard (200..<300).contains(listing.status) else {
                throw DriverError("listing \(resource.key) answered HTTP \(listing.status)")
            }
            guard let list = try? JSONDecoder().decode(ObjectList.self, from: listing.bodyData) else {
                throw DriverError("listing \(resource.key) did not answer with a Kubernetes list")
            }
            var objects = Set(list.items.compactMap(\.key))
            try await save(objects, resource.key, connection, sink)
            changed()
            var version = list.metadata.resourceVersion ?? ""
            // Watch until the version is too old (then relist) or the task ends.
            watching: while !Task.isCancelled {
                let query = "?watch=true&allowWatchBookmarks=true&timeoutSeconds=240&resourceVersion=\(version)"
                var request = HTTPClientRequest(url: endpoint.server + resource.path + query)
                for (name, value) in endpoint.headers { request.headers.add(name: name, value: value) }
                request.tlsConfiguration = endpoint.tls
                // The checked address is held for the whole watch; true: the version is gone (410).
                let gone = try await http.withCheckedClient(for: request.url) { client -> Bool in
                    let response = try await client.execute(request, deadline: .now() + .seconds(300))
                    if response.status.code == 410 { return true }
                    guard (200..<300).contains(response.status.code) else {
                        throw DriverError("watching \(resource.key) answered HTTP \(response.status.code)")
                    }
                    var pending = ByteBuffer()
                    for try await chunk in response.body {
                        pending.writeImmutableBuffer(chunk)
                        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                            let length = newline - pending.readerIndex
                            guard let line = pending.readSlice(length: length) else { break }
                            pending.moveReaderIndex(forwardBy: 1)
                            guard line.readableBytes > 0,
                                  let event = try? JSONDecoder().decode(WatchEvent.self, from: Data(line.readableBytesView)) else {
                                continue
                            }
                            if event.type == "ERROR" {
                                if event.object.code == 410 { return true }
                                throw DriverError("watch of \(resource.key) failed: \(event.object.message ?? "unknown error")")
                            }
                            guard let meta = event.object.metadata else { continue }
                            if let next = meta.resourceVersion { version = next }
                            guard let name = meta.name else { continue }
                            let key = meta.namespace.map { "\($0)/\(name)" } ?? name
                            switch event.type {
                            case "ADDED", "MODIFIED": objects.insert(key)
                            case "DELETED": objects.remove(key)
                            default: continue  // BOOKMARK: only the version moves.
                            }
                            try await save(objects, resource.key, connection, sink)
                            changed()
                        }
                    }
                    return false
                }
                if gone { break watching }
                // The server ended the watch (its timeout): resume, but never in a hot loop.
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    private func save(_ objects: Set<String>, _ key: String, _ connection: Connection, _ sink: any CollectedDataSink) async throws {
        try await sink.saveCollectedData(connectionId: connection.id, key: key,
                                         value: .array(objects.sorted().map(JSONValue.string)))
    }

    // MARK: Requests

    func get(_ endpoint: KubernetesEndpoint, _ path: String, timeout: Duration) async throws -> OutboundResponse {
        try await http.request(endpoint.server + path, headers: endpoint.headers, timeout: timeout, tls: endpoint.tls)
    }

    /// A 401 may mean an exec plugin's credential went stale: forget it, so the next check
    /// runs the plugin again.
    private func classified(_ status: Int, _ path: String, _ watch: Stopwatch) async -> CheckResult {
        if status == 401 { await resolver.execCache.invalidateAll() }
        return .classify(status, path: path, latency: watch.elapsed)
    }

    private struct Version: Decodable { var gitVersion: String }
}

