import ConnectionLifecycle
import Foundation

/// The in-cluster scan (what Meshery's MeshSync does for it): among a cluster's services,
/// recognise Prometheus and Grafana by their `app.kubernetes.io/name` or `app` label or a
/// well-known port, confirm each with a request to its identity endpoint through the API
/// server's service proxy, and report the confirmed ones as targets reached through that
/// proxy with the cluster's credentials.
extension KubernetesDriver {
    /// A kind this scan looks for: how it is labelled, its usual port, and how it proves
    /// what it is.
    struct ScannedKind: Sendable {
        var kind: String
        var port: Int
        var identityPath: String
        var confirms: @Sendable (Data) -> Bool
    }

    static let scannedKinds: [ScannedKind] = [
        ScannedKind(kind: "prometheus", port: 9090, identityPath: "/api/v1/status/buildinfo") { body in
            (try? JSONDecoder().decode(PrometheusBuildInfo.self, from: body))?.status == "success"
        },
        ScannedKind(kind: "grafana", port: 3000, identityPath: "/api/health") { body in
            (try? JSONDecoder().decode(GrafanaHealth.self, from: body))?.database != nil
        },
    ]

    private struct PrometheusBuildInfo: Decodable { var status: String }
    private struct GrafanaHealth: Decodable { var database: String? }

    struct ServiceList: Decodable {
        var items: [Service]
    }

    struct Service: Decodable {
        var metadata: Metadata
        var spec: Spec?
        struct Metadata: Decodable {
            var name: String
            var namespace: String?
            var labels: [String: String]?
        }
        struct Spec: Decodable { var ports: [Port]? }
        struct Port: Decodable {
            var port: Int
            var name: String?
        }
    }

    /// The kind and port a service looks like, before confirmation.
    static func guess(_ service: Service) -> (ScannedKind, Int)? {
        let labels = service.metadata.labels ?? [:]
        let names = [labels["app.kubernetes.io/name"], labels["app"]].compactMap { $0?.lowercased() }
        let ports = service.spec?.ports?.map(\.port) ?? []
        for scanned in scannedKinds {
            if names.contains(scanned.kind), let port = ports.contains(scanned.port) ? scanned.port : ports.first {
                return (scanned, port)
            }
        }
        for scanned in scannedKinds where ports.contains(scanned.port) { return (scanned, scanned.port) }
        return nil
    }

    /// Scans after each burst of service changes until the session ends.
    func scanOnChange(_ changes: AsyncStream<Void>, of connection: Connection, sink: any CollectedDataSink) async throws {
        let memo = ServiceScanMemo()
        for await _ in changes {
            try await Task.sleep(for: .milliseconds(300))
            guard let endpoint = try? await resolver.endpoint(for: connection) else { continue }
            await scanServices(of: connection, endpoint: endpoint, sink: sink, memo: memo)
        }
    }

    /// Lists services, confirms the likely ones and reports them to `sink` when the set
    /// changed since the last report. A failure is not the session's: the inventory goes on
    /// and the next change scans again.
    func scanServices(of connection: Connection, endpoint: KubernetesEndpoint, sink: any CollectedDataSink,
                      memo: ServiceScanMemo) async {
        guard let listing = try? await get(endpoint, "/api/v1/services", timeout: timeout),
              (200..<300).contains(listing.status),
              let services = try? JSONDecoder().decode(ServiceList.self, from: listing.bodyData) else { return }
        var found: [DiscoveredTarget] = []
        for service in services.items {
            guard let (scanned, port) = Self.guess(service) else { continue }
            let namespace = service.metadata.namespace ?? "default"
            let proxy = "\(endpoint.server)/api/v1/namespaces/\(namespace)/services/\(service.metadata.name):\(port)/proxy"
            if let known = await memo.confirmed[proxy], known.kind == scanned.kind {
                found.append(known)
                continue
            }
            guard await !memo.recentlyRefuted(proxy) else { continue }
            guard let answer = try? await http.request(proxy + scanned.identityPath, headers: endpoint.headers,
                                                       timeout: timeout, tls: endpoint.tls),
                  (200..<300).contains(answer.status), scanned.confirms(answer.bodyData) else {
                await memo.refuted(proxy)
                continue
            }
            found.append(DiscoveredTarget(
                kind: scanned.kind, name: "\(connection.name) \(namespace)/\(service.metadata.name)", url: proxy,
                metadata: [
                    "parentConnectionId": .string(connection.id.lowercasedString),
                    "parentName": .string(connection.name),
                    "namespace": .string(namespace), "service": .string(service.metadata.name),
                    "port": .number(Double(port)),
                ]))
        }
        guard await memo.isNews(found) else { return }
        if await sink.discovered(found, by: connection) { await memo.reported(found) }
    }
}

/// What one session's scans already know: confirmed services (asked once, not on every
/// change), services that did not confirm (asked again after a while), and the last set
/// recorded (reported again only when it changes, or until recording succeeds).
actor ServiceScanMemo {
    private(set) var confirmed: [String: DiscoveredTarget] = [:]
    private var refutedAt: [String: ContinuousClock.Instant] = [:]
    private var lastReported: Set<DiscoveredTarget>?
    static let retryRefutedAfter: Duration = .seconds(300)

    func recentlyRefuted(_ url: String) -> Bool {
        refutedAt[url].map { ContinuousClock.now - $0 < Self.retryRefutedAfter } ?? false
    }

    func refuted(_ url: String) { refutedAt[url] = .now }

    func isNews(_ found: [DiscoveredTarget]) -> Bool {
        for target in found { confirmed[target.url] = target }
        return Set(found) != lastReported
    }

    func reported(_ found: [DiscoveredTarget]) { lastReported = Set(found) }
}
