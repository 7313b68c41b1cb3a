import ConnectionLifecycle
import Foundation
import SwitchboardStorage

/// A connection as the API shows it: Meshery's v1beta3 `Connection`, plus `version`.
struct ConnectionResource: Encodable {
    static let schemaVersion = "connections.meshery.io/v1beta3"

    var id: String
    var schemaVersion = Self.schemaVersion
    var name: String
    var description: String?
    var url: String?
    var credentialId: String?
    var type: String
    var subType: String
    var kind: String
    var status: ConnectionStatus
    var metadata: [String: JSONValue]
    var owner: String?
    var createdAt: Date
    var updatedAt: Date
    var deletedAt: Date?
    var environments: [String] = []
    /// The moves a user may request, keyed by status: `transitionMap[status]` is what a client
    /// can offer from where the connection is now.
    var transitionMap: [String: [StateTransition]]
    /// Compare-and-set token: changes with every stored change.
    var version: Int64
    /// What the health monitor last observed (probes only; status changes only through damping).
    var health: HealthResource

    struct StateTransition: Encodable {
        var nextState: ConnectionStatus
        var description: String
    }

    init(_ connection: Connection, kind: ConnectionKind, health: HealthRecord? = nil) {
        self.health = HealthResource(health ?? HealthRecord(connectionId: connection.id))
        id = connection.id.wire
        name = connection.name
        description = connection.description
        url = connection.url
        credentialId = connection.credentialId?.wire
        type = connection.type
        subType = connection.subType
        self.kind = connection.kind
        status = connection.status
        metadata = connection.metadata
        owner = connection.owner?.wire
        createdAt = connection.createdAt
        updatedAt = connection.updatedAt
        deletedAt = connection.deletedAt
        version = connection.version
        var map: [String: [StateTransition]] = [:]
        for (from, edges) in kind.userTransitionMap {
            map[from.wireName] = edges.map { StateTransition(nextState: $0.to, description: $0.description) }
        }
        transitionMap = map
    }

    enum CodingKeys: String, CodingKey {
        case id, schemaVersion, name, description, url, credentialId, type, subType, kind, status, metadata,
             owner, createdAt, updatedAt, deletedAt, environments, transitionMap, version, health
    }

    // Written by hand so that `deletedAt` is always present (null while live), as in Meshery.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encodeIfPresent(url, forKey: .url)
        try container.encodeIfPresent(credentialId, forKey: .credentialId)
        try container.encode(type, forKey: .type)
        try container.encode(subType, forKey: .subType)
        try container.encode(kind, forKey: .kind)
        try container.encode(status, forKey: .status)
        try container.encode(metadata, forKey: .metadata)
        try container.encodeIfPresent(owner, forKey: .owner)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(deletedAt, forKey: .deletedAt)
        try container.encode(environments, forKey: .environments)
        try container.encode(transitionMap, forKey: .transitionMap)
        try container.encode(version, forKey: .version)
        try container.encode(health, forKey: .health)
    }
}

/// A health record on the wire.
struct HealthResource: Encodable {
    var state: HealthState
    var checkedAt: Date?
    var latencyMs: Double?
    var lastError: String?
    var consecutiveSuccesses: Int
    var consecutiveFailures: Int

    init(_ record: HealthRecord) {
        state = record.state
        checkedAt = record.checkedAt
        latencyMs = record.latencyMilliseconds
        lastError = record.lastError
        consecutiveSuccesses = record.consecutiveSuccesses
        consecutiveFailures = record.consecutiveFailures
    }

    enum CodingKeys: String, CodingKey {
        case state, checkedAt, latencyMs, lastError, consecutiveSuccesses, consecutiveFailures
    }

    // Unknowns are null rather than absent, so clients see every field.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(state, forKey: .state)
        try container.encode(checkedAt, forKey: .checkedAt)
        try container.encode(latencyMs, forKey: .latencyMs)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(consecutiveSuccesses, forKey: .consecutiveSuccesses)
        try container.encode(consecutiveFailures, forKey: .consecutiveFailures)
    }
}

/// The answer of `POST .../{connectionId}/ping`: the kind's verify, run now.
struct PingResource: Encodable {
    var connectionId: String
    var status: ConnectionStatus
    var health: HealthState
    var reachable: Bool
    var latencyMs: Double
    var error: String?
    var details: [String: String]
    var checkedAt: Date

    enum CodingKeys: String, CodingKey {
        case connectionId, status, health, reachable, latencyMs, error, details, checkedAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(connectionId, forKey: .connectionId)
        try container.encode(status, forKey: .status)
        try container.encode(health, forKey: .health)
        try container.encode(reachable, forKey: .reachable)
        try container.encode(latencyMs, forKey: .latencyMs)
        try container.encode(error, forKey: .error)
        try container.encode(details, forKey: .details)
        try container.encode(checkedAt, forKey: .checkedAt)
    }
}

/// What a connection's session collected: `GET .../{connectionId}/data`.
struct CollectedDataResource: Encodable {
    var connectionId: String
    var items: [String: Item]

    struct Item: Encodable {
        var value: JSONValue
        var collectedAt: Date
    }
}

/// Meshery's `ConnectionPage`; `statusSummary` counts what the filters match.
struct ConnectionPageResource: Encodable {
    var connections: [ConnectionResource]
    var totalCount: Int
    var page: Int
    var pageSize: Int
    var statusSummary: [String: Int]
}

/// Meshery's `ConnectionPayload` for POST and PUT. `url` is a Switchboard addition: Meshery
/// keeps it in metadata, Switchboard checks it.
struct ConnectionPayload: Decodable {
    var id: UUID?
    var name: String?
    var description: String?
    var url: String?
    var kind: String?
    var type: String?
    var subType: String?
    var status: String?
    var credentialId: UUID?
    var metadata: [String: JSONValue]?
    /// Accepted for Meshery compatibility; stored credentials arrive with their own issue.
    var credentialSecret: [String: JSONValue]?
    var reason: String?
}

/// Body of `POST /api/integrations/connections/{connectionId}/transitions`.
struct TransitionBody: Decodable {
    var status: String
    var reason: String?
}

/// Body of `POST /api/integrations/connections/transitions`.
struct BulkTransitionBody: Decodable {
    var ids: [UUID]
    var status: String
    var reason: String?
}

struct BulkTransitionResult: Encodable {
    var id: String
    var ok: Bool
    /// Where the connection is after the request (absent when it does not exist).
    var status: ConnectionStatus?
    var connection: ConnectionResource?
    var error: Problem?
}

struct BulkTransitionResponse: Encodable {
    var results: [BulkTransitionResult]
    var succeeded: Int
    var failed: Int
}

struct EventResource: Encodable {
    var sequence: Int64
    var connectionId: String
    var from: ConnectionStatus?
    var to: ConnectionStatus
    var actor: String
    var actorRole: ActorRole
    var reason: String?
    var correlationId: String
    var createdAt: Date

    init(_ event: LifecycleEvent) {
        sequence = event.sequence
        connectionId = event.connectionId.wire
        from = event.from
        to = event.to
        actor = event.actor
        actorRole = event.actorRole
        reason = event.reason
        correlationId = event.correlationId.wire
        createdAt = event.at
    }

    // `from` is null (not absent) for the event that created the connection.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(connectionId, forKey: .connectionId)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encode(actor, forKey: .actor)
        try container.encode(actorRole, forKey: .actorRole)
        try container.encode(reason, forKey: .reason)
        try container.encode(correlationId, forKey: .correlationId)
        try container.encode(createdAt, forKey: .createdAt)
    }

    enum CodingKeys: String, CodingKey {
        case sequence, connectionId, from, to, actor, actorRole, reason, correlationId, createdAt
    }
}

struct EventPageResource: Encodable {
    var events: [EventResource]
    var totalCount: Int
    var page: Int
    var pageSize: Int
}

extension UUID {
    /// Lowercase, as Meshery and every Switchboard response spell ids.
    var wire: String { uuidString.lowercased() }
}
