import Foundation
import StoreContract

/// The bodies a spoke and its hub exchange (issue 16), field for field. The spoke encodes
/// the requests and decodes the answers; a hub may decode the requests with the same types.
public enum HubWire {
    /// `POST {hub}/api/integrations/connections`: Meshery's connection payload for a
    /// Switchboard server (kind `meshery`, platform / management).
    public struct Registration: Codable, Sendable, Equatable {
        public var name: String
        public var kind: String
        public var type: String
        public var subType: String
        public var status: String
        public var metadata: Metadata

        public struct Metadata: Codable, Sendable, Equatable {
            public var serverId: String
            public var serverVersion: String
            public var serverBuildSha: String
            public var serverLocation: String

            enum CodingKeys: String, CodingKey {
                case serverId = "server_id", serverVersion = "server_version"
                case serverBuildSha = "server_build_sha", serverLocation = "server_location"
            }

            public init(serverId: String, serverVersion: String, serverBuildSha: String, serverLocation: String) {
                self.serverId = serverId
                self.serverVersion = serverVersion
                self.serverBuildSha = serverBuildSha
                self.serverLocation = serverLocation
            }
        }

        /// The registration of server `id` reachable at `advertiseURL`.
        public init(serverId id: UUID, version: String, build: String, advertiseURL: String) {
            name = "switchboard \(ServerURL.hostAndPort(advertiseURL))"
            kind = "meshery"
            type = "platform"
            subType = "management"
            status = "registered"
            metadata = Metadata(serverId: id.uuidString.lowercased(), serverVersion: version, serverBuildSha: build,
                                serverLocation: advertiseURL)
        }
    }

    /// What the hub answers a registration with (201 new, 200 known): a connection, of
    /// which the spoke reads these.
    public struct RegisteredConnection: Codable, Sendable, Equatable {
        public var id: String
        public var status: String

        public init(id: String, status: String) {
            self.id = id
            self.status = status
        }
    }

    /// `POST {hub}/api/integrations/connections/meshery/{serverId}/heartbeat`.
    public struct Heartbeat: Codable, Sendable, Equatable {
        public var serverId: String
        public var version: String
        public var build: String
        public var advertiseUrl: String
        public var summary: Summary

        public init(serverId: UUID, version: String, build: String, advertiseUrl: String, summary: Summary) {
            self.serverId = serverId.uuidString.lowercased()
            self.version = version
            self.build = build
            self.advertiseUrl = advertiseUrl
            self.summary = summary
        }
    }

    /// The spoke's own live connections (tombstones excluded), counted.
    public struct Summary: Codable, Sendable, Equatable {
        public var totalCount: Int
        /// By status, spelled as on the wire (`not found` with a space).
        public var byStatus: [String: Int]
        public var byKind: [String: Int]

        public init(totalCount: Int, byStatus: [String: Int], byKind: [String: Int]) {
            self.totalCount = totalCount
            self.byStatus = byStatus
            self.byKind = byKind
        }
    }

    /// The hub's answer to a heartbeat (200).
    public struct HeartbeatAnswer: Codable, Sendable, Equatable {
        public var connectionId: String?
        /// The hub's status for this server (an admin's `maintenance` or `ignored` included).
        public var status: String
        public var leaseSeconds: Double?
        public var leaseExpiresAt: String?

        public init(connectionId: String?, status: String, leaseSeconds: Double?, leaseExpiresAt: String?) {
            self.connectionId = connectionId
            self.status = status
            self.leaseSeconds = leaseSeconds
            self.leaseExpiresAt = leaseExpiresAt
        }
    }

    /// `POST {hub}/api/integrations/connections/meshery/{serverId}/stop`, sent once at a
    /// graceful shutdown.
    public struct Stop: Codable, Sendable, Equatable {
        public var serverId: String

        public init(serverId: UUID) { self.serverId = serverId.uuidString.lowercased() }
    }

    /// The paths, under the hub's base URL.
    public static let registerPath = "/api/integrations/connections"

    public static func heartbeatPath(_ serverId: UUID) -> String {
        "/api/integrations/connections/meshery/\(serverId.uuidString.lowercased())/heartbeat"
    }

    public static func stopPath(_ serverId: UUID) -> String {
        "/api/integrations/connections/meshery/\(serverId.uuidString.lowercased())/stop"
    }
}

extension HubWire.Summary {
    /// The summary of the store's counts by kind and status (`countsByKindAndStatus`).
    public init(_ counts: [KindStatusCount]) {
        var byStatus: [String: Int] = [:], byKind: [String: Int] = [:]
        for row in counts {
            byStatus[row.status.wireName, default: 0] += row.count
            byKind[row.kind, default: 0] += row.count
        }
        self.init(totalCount: counts.reduce(0) { $0 + $1.count }, byStatus: byStatus, byKind: byKind)
    }
}
