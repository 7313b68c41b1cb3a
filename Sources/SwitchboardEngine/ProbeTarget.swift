import ConnectionLifecycle
import Foundation

/// The part of a connection a check reads, kept by the health monitor for each watched
/// connection instead of the whole row: at 100k watched connections the fields a check
/// never reads (dates, owner, type, fingerprint, version) were most of its memory.
struct ProbeTarget: Sendable {
    let id: UUID
    var name: String
    var url: String?
    var kind: String
    var status: ConnectionStatus
    var statusChangedBy: ActorRole
    var credentialId: UUID?
    var metadata: [String: JSONValue]

    init(_ connection: Connection) {
        id = connection.id
        name = connection.name
        url = connection.url
        kind = connection.kind
        status = connection.status
        statusChangedBy = connection.statusChangedBy
        credentialId = connection.credentialId
        metadata = connection.metadata
    }

    /// The connection a driver checks: what a check reads, the rest left blank.
    var connection: Connection {
        Connection(id: id, name: name, url: url, kind: kind, type: "", subType: "", status: status,
                   credentialId: credentialId, metadata: metadata, createdAt: .distantPast, updatedAt: .distantPast,
                   statusChangedBy: statusChangedBy)
    }
}

/// The runs of a watched connection's health that the next check builds on (the rest of
/// its record is replaced by every check).
struct HealthCounts: Sendable {
    var state: HealthState
    var successes: Int32
    var failures: Int32

    init(_ record: HealthRecord) {
        state = record.state
        successes = Int32(clamping: record.consecutiveSuccesses)
        failures = Int32(clamping: record.consecutiveFailures)
    }

    func record(for id: UUID) -> HealthRecord {
        HealthRecord(connectionId: id, state: state, consecutiveSuccesses: Int(successes), consecutiveFailures: Int(failures))
    }
}
