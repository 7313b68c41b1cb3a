import ConnectionLifecycle
import Foundation
import Synchronization
import StoreContract

/// A connection as the API shows it: Meshery's v1beta3 `Connection` (its environments as
/// `Environment` objects, which Meshery's UI reads names from), plus `version`, `health` and
/// `fingerprint`.
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
    /// What the connection points at: one live connection per owner and fingerprint.
    @NullWhenAbsent var fingerprint: String?
    var createdAt: Date
    var updatedAt: Date
    @NullWhenAbsent var deletedAt: Date?
    var environments: [EnvironmentResource] = []
    /// The moves a user may request, keyed by status: `transitionMap[status]` is what a client
    /// can offer from where the connection is now.
    var transitionMap: [String: [StateTransition]]
    /// Whether `write(to:)` writes `transitionMap` (about 2.5 KB a connection): lists leave it
    /// out when asked to (`omit=transitionMap`).
    var writesTransitionMap = true
    /// Compare-and-set token: changes with every stored change.
    var version: Int64
    /// What the health monitor last observed (probes only; status changes only through damping).
    var health: HealthResource
    /// A peer server's lease (kinds that register themselves only): whether its heartbeats
    /// keep it alive.
    var lease: LeaseResource?
    /// `transitionMap` as JSON, encoded once per kind (for `write(to:)`; not a field itself).
    private var transitionMapJSON: [UInt8]

    enum CodingKeys: String, CodingKey {
        case id, schemaVersion, name, description, url, credentialId, type, subType, kind, status, metadata, owner
        case fingerprint, createdAt, updatedAt, deletedAt, environments, transitionMap, version, health, lease
    }

    struct StateTransition: Encodable {
        var nextState: ConnectionStatus
        var description: String
    }

    init(_ connection: Connection, kind: ConnectionKind, health: HealthRecord? = nil,
         environments: [ConnectionLifecycle.Environment] = []) {
        self.environments = environments.map { EnvironmentResource($0) }
        self.health = HealthResource(health ?? HealthRecord(connectionId: connection.id))
        if kind.registersItself { lease = LeaseResource(health ?? HealthRecord(connectionId: connection.id)) }
        id = connection.id.lowercasedString
        name = connection.name
        description = connection.description
        url = connection.url
        credentialId = connection.credentialId?.lowercasedString
        type = connection.type
        subType = connection.subType
        self.kind = connection.kind
        status = connection.status
        metadata = connection.metadata
        owner = connection.owner?.lowercasedString
        fingerprint = connection.fingerprint
        createdAt = connection.createdAt
        updatedAt = connection.updatedAt
        deletedAt = connection.deletedAt
        version = connection.version
        (transitionMap, transitionMapJSON) = Self.transitionMap(of: kind)
    }

    /// A kind's map, built and encoded once per kind: every connection of the kind carries the same.
    static func transitionMap(of kind: ConnectionKind) -> (map: [String: [StateTransition]], json: [UInt8]) {
        if let known = builtMaps.withLock({ $0[kind.name] }) { return known }
        var map: [String: [StateTransition]] = [:]
        for (from, edges) in kind.userTransitionMap {
            map[from.wireName] = edges.map { StateTransition(nextState: $0.to, description: $0.description) }
        }
        let built = (map, Array((try? JSONBody.encoder.encode(map)) ?? Data("{}".utf8)))
        builtMaps.withLock { $0[kind.name] = built }
        return built
    }

    private static let builtMaps = Mutex<[String: (map: [String: [StateTransition]], json: [UInt8])]>([:])

    /// The same JSON the encoder writes (keys sorted), written by hand (see `JSONWriter`).
    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.key("createdAt"); json.date(createdAt)
            if let credentialId { json.key("credentialId"); json.string(credentialId) }
            json.key("deletedAt"); if let deletedAt { json.date(deletedAt) } else { json.null() }
            if let description { json.key("description"); json.string(description) }
            json.key("environments"); json.array(environments) { $1.write(to: &$0) }
            json.key("fingerprint"); if let fingerprint { json.string(fingerprint) } else { json.null() }
            json.key("health"); health.write(to: &json)
            json.key("id"); json.string(id)
            json.key("kind"); json.string(kind)
            if let lease { json.key("lease"); lease.write(to: &json) }
            json.key("metadata"); json.value(.object(metadata))
            json.key("name"); json.string(name)
            if let owner { json.key("owner"); json.string(owner) }
            json.key("schemaVersion"); json.string(schemaVersion)
            json.key("status"); json.string(status.rawValue)
            json.key("subType"); json.string(subType)
            if writesTransitionMap { json.key("transitionMap"); json.fragment(transitionMapJSON) }
            json.key("type"); json.string(type)
            json.key("updatedAt"); json.date(updatedAt)
            if let url { json.key("url"); json.string(url) }
            json.key("version"); json.number(version)
        }
    }
}

/// A peer server's lease on the wire, read from the health its heartbeats write: `alive`
/// while heartbeats arrive, `lapsed` once one was missed for a whole lease or the server
/// said it stopped (`lastError` says which), `none` before the first heartbeat.
struct LeaseResource: Encodable {
    var state: String
    /// When its last heartbeat arrived (this server's clock).
    @NullWhenAbsent var lastHeartbeatAt: Date?
    @NullWhenAbsent var lastError: String?

    init(_ health: HealthRecord) {
        switch health.state {
        case .reachable: state = "alive"
        case .unknown: state = "none"
        case .unreachable, .unauthorized: state = "lapsed"
        }
        lastHeartbeatAt = health.checkedAt
        lastError = health.lastError
    }

    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.key("lastError"); if let lastError { json.string(lastError) } else { json.null() }
            json.key("lastHeartbeatAt"); if let lastHeartbeatAt { json.date(lastHeartbeatAt) } else { json.null() }
            json.key("state"); json.string(state)
        }
    }
}

/// A health record on the wire.
struct HealthResource: Encodable {
    var state: HealthState
    @NullWhenAbsent var checkedAt: Date?
    @NullWhenAbsent var latencyMs: Double?
    @NullWhenAbsent var lastError: String?
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

    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.key("checkedAt"); if let checkedAt { json.date(checkedAt) } else { json.null() }
            json.key("consecutiveFailures"); json.number(Int64(consecutiveFailures))
            json.key("consecutiveSuccesses"); json.number(Int64(consecutiveSuccesses))
            json.key("lastError"); if let lastError { json.string(lastError) } else { json.null() }
            json.key("latencyMs"); if let latencyMs { json.number(latencyMs) } else { json.null() }
            json.key("state"); json.string(state.rawValue)
        }
    }


}

/// The answer of `POST .../{connectionId}/ping`: the kind's verify, run now.
struct PingResource: Encodable {
    var connectionId: String
    var status: ConnectionStatus
    var health: HealthState
    var reachable: Bool
    var latencyMs: Double
    @NullWhenAbsent var error: String?
    var details: [String: String]
    var checkedAt: Date


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

    func write(to writer: inout JSONWriter) {
        writer.object { json in
            json.key("connections"); json.array(connections) { $1.write(to: &$0) }
            json.key("page"); json.number(Int64(page))
            json.key("pageSize"); json.number(Int64(pageSize))
            json.key("statusSummary")
            json.object { summary in
                for (status, count) in statusSummary.sorted(by: { $0.key < $1.key }) {
                    summary.key(status); summary.number(Int64(count))
                }
            }
            json.key("totalCount"); json.number(Int64(totalCount))
        }
    }
}

/// Meshery's `ConnectionPayload` for POST and PUT. `url` is a Switchboard addition: Meshery
/// keeps the address in metadata, where the engine reads it when `url` is left out
/// (`ConnectionAddress`).
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
    /// A secret to keep as a credential the new connection owns (removed with it).
    var credentialSecret: [String: SecretText]?
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

    /// As JSONEncoder writes it (absent fields left out); a refusal's problem, the rare
    /// case, goes through the encoder.
    func write(to writer: inout JSONWriter) throws {
        let problem = try error.map { [UInt8](try JSONBody.encoder.encode($0)) }
        writer.object { json in
            if let connection { json.key("connection"); connection.write(to: &json) }
            if let problem { json.key("error"); json.fragment(problem) }
            json.key("id"); json.string(id)
            json.key("ok"); json.bool(ok)
            if let status { json.key("status"); json.string(status.rawValue) }
        }
    }
}

/// Up to a thousand connections: written by hand, as a list page is.
struct BulkTransitionResponse: Encodable {
    var results: [BulkTransitionResult]
    var succeeded: Int
    var failed: Int

    func write(to writer: inout JSONWriter) throws {
        var items: [JSONWriter] = []
        for result in results {
            var item = JSONWriter(capacity: 512)
            try result.write(to: &item)
            items.append(item)
        }
        writer.object { json in
            json.key("failed"); json.number(Int64(failed))
            json.key("results"); json.array(items) { $0.fragment($1.bytes) }
            json.key("succeeded"); json.number(Int64(succeeded))
        }
    }
}

struct EventResource: Encodable {
    var sequence: Int64
    var connectionId: String
    /// Null (not absent) for the event that created the connection.
    @NullWhenAbsent var from: ConnectionStatus?
    var to: ConnectionStatus
    var actor: String
    var actorRole: ActorRole
    @NullWhenAbsent var reason: String?
    var correlationId: String
    var createdAt: Date

    init(_ event: LifecycleEvent) {
        sequence = event.sequence
        connectionId = event.connectionId.lowercasedString
        from = event.from
        to = event.to
        actor = event.actor
        actorRole = event.actorRole
        reason = event.reason
        correlationId = event.correlationId.lowercasedString
        createdAt = event.at
    }


}

struct EventPageResource: Encodable {
    var events: [EventResource]
    var totalCount: Int
    var page: Int
    var pageSize: Int
}

/// An optional that is encoded as `null` when absent instead of being left out, so clients
/// see every field of the shapes Meshery defines as nullable.
@propertyWrapper
struct NullWhenAbsent<Value: Encodable & Sendable>: Encodable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

/// One value of a credential secret as clients send it. Meshery's schema types a secret as a
/// free-form object and its forms send numbers and booleans (a port, `insecure: true`); they are
/// kept as the text JSON spells them (`8443`, `true`), which is how drivers read every secret.
/// `null`, arrays and objects are refused: no secret value is one.
struct SecretText: Decodable, Sendable {
    var text: String

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self.text = text
        } else if let flag = try? container.decode(Bool.self) {
            text = flag ? "true" : "false"
        } else if let whole = try? container.decode(Int64.self) {
            text = String(whole)
        } else if let number = try? container.decode(Double.self), number.isFinite {
            text = "\(number)"
        } else {
            throw DecodingError.typeMismatch(String.self, DecodingError.Context(
                codingPath: decoder.codingPath,
                debugDescription: "a secret value is text, a number or a boolean"))
        }
    }

    /// A decoded secret as the engine keeps it.
    static func values(_ secret: [String: SecretText]?) -> [String: String]? {
        secret?.mapValues(\.text)
    }
}
