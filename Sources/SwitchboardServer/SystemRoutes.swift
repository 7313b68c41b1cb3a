import ConnectionLifecycle
import Foundation
import Hummingbird
import Prometheus
import SwitchboardEngine
import StoreContract

/// Liveness, readiness, metrics, the API's own description and this server's identity.
struct SystemRoutes<Context: RequestContext>: Sendable {
    let engine: ConnectionEngine
    let registry: PrometheusCollectorRegistry
    let address: AdvertisedAddress
    let membership: ReplicaMembership

    func register(on router: Router<Context>) {
        // Liveness reads nothing and encodes nothing: orchestrators ask often.
        router.get("healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("readyz") { _, context in
            do {
                try await engine.checkReadiness()
            } catch let unavailable as StoreUnavailable {
                // Public path: the file's location stays in the log.
                context.logger.warning("not ready", metadata: ["error": "\(unavailable)"])
                throw Problem("not-ready", title: "The store cannot \(unavailable.operation.rawValue)", status: .serviceUnavailable,
                              detail: "the database cannot \(unavailable.operation.rawValue): \(unavailable.cause.rawValue); \(unavailable.remedy) (the server log names the file and SQLite's words)")
            } catch {
                throw Problem("not-ready", title: "The store is not answering", status: .serviceUnavailable,
                              detail: "the connection store did not answer: \(error)")
            }
            return try JSONBody.response(["status": "ready"])
        }
        router.get("metrics") { _, _ in
            try await refreshConnectionCounts()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        // Who this server is, for a hub's users and scripts; a token is needed (not public), no secret is in it.
        router.get("api/system/server") { _, _ in
            try JSONBody.response(ServerDescription(id: try await engine.serverIdentity().lowercasedString,
                                                    version: SwitchboardRelease.version, build: SwitchboardRelease.build,
                                                    advertiseUrl: address.current))
        }
        // The processes serving this store and what each watches (one, with SQLite).
        router.get("api/system/replicas") { _, _ in
            let me = engine.replicas.me
            let members = await membership.members
            return try JSONBody.response(ReplicaList(
                self: me, memberTtlSeconds: Double(membership.ttl.components.seconds),
                replicas: members.map {
                    ReplicaDescription(id: $0.id, startedAt: $0.startedAt, heartbeatAt: $0.heartbeatAt,
                                       ownedConnections: $0.id == me ? engine.replicas.watchedConnections : $0.ownedConnections,
                                       address: $0.address, isSelf: $0.id == me)
                }))
        }
        router.get("api/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: try OpenAPIDocument.bytes())))
        }
    }
}

/// The answer of `GET /api/system/replicas`.
struct ReplicaList: Encodable {
    var `self`: String
    var memberTtlSeconds: Double
    var replicas: [ReplicaDescription]
}

struct ReplicaDescription: Encodable {
    var id: String
    var startedAt: Date
    var heartbeatAt: Date
    /// Connections it watches (this replica's count is live; the others' as of their heartbeat).
    var ownedConnections: Int
    var address: String?
    var isSelf: Bool

    enum CodingKeys: String, CodingKey {
        case id, startedAt, heartbeatAt, ownedConnections, address
        case isSelf = "self"
    }
}

/// The answer of `GET /api/system/server`.
struct ServerDescription: Encodable {
    var id: String
    var version: String
    var build: String
    var advertiseUrl: String
}

extension SystemRoutes {
    static var connectionsMetric: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "switchboard_connections", unitName: "",
                             helpText: "Connections by kind and status (tombstones excluded)")
    }

    /// `switchboard_connections{kind, status}` is read from the store at scrape time, so it
    /// is always the truth, zeros included.
    func refreshConnectionCounts() async throws {
        let counts = try await engine.countsByKindAndStatus()
        var byKey: [String: Int] = [:]
        for count in counts { byKey["\(count.kind)|\(count.status.wireName)"] = count.count }
        let kinds = Set(engine.kinds.names).union(counts.map(\.kind))
        for kind in kinds {
            for status in ConnectionStatus.allCases where status != .deleted {
                registry.makeGauge(descriptor: Self.connectionsMetric, labels: [("kind", kind), ("status", status.wireName)])
                    .set(Double(byKey["\(kind)|\(status.wireName)"] ?? 0))
            }
        }
    }
}

/// The OpenAPI 3.1 document shipped in the module's resources.
public enum OpenAPIDocument {
    public static func bytes() throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml", subdirectory: "Resources") else {
            throw Problem("internal-error", title: "Internal server error", status: .internalServerError,
                          detail: "the OpenAPI document is missing from the server's resources")
        }
        return try Data(contentsOf: url)
    }
}
