import Foundation

/// The lines `connection view` prints under the row: what a person asks first when a
/// connection is not where they expect it (when it was last checked, what went wrong,
/// and which move put it in its status and why).
enum ConnectionDetails {
    static func lines(_ connection: [String: Any], lastEvent: [String: Any]?) -> [String] {
        let health = connection["health"] as? [String: Any] ?? [:]
        var check = "never"
        if health["checkedAt"] is String {
            check = "\(Output.text(health, "checkedAt")) (\(Output.text(health, "state"))"
                + (health["latencyMs"] is NSNumber ? ", \(Output.text(health, "latencyMs")) ms)" : ")")
        }
        var lines = ["LAST CHECK  \(check)", "LAST ERROR  \(Output.text(health, "lastError"))"]
        if let event = lastEvent {
            let move = event["from"] is String ? "\(Output.text(event, "from")) -> \(Output.text(event, "to"))"
                : "created as \(Output.text(event, "to"))"
            lines.append("LAST MOVE   \(move) by \(Output.text(event, "actor")) at \(Output.text(event, "createdAt")): \(Output.text(event, "reason"))")
        } else {
            lines.append("LAST MOVE   -")
        }
        return lines
    }

    /// For a server registered here (a connection with a `lease`): its lease and what its
    /// latest heartbeat (`heartbeat`, the collected item's value) said about it.
    static func peerLines(_ connection: [String: Any], heartbeat: [String: Any]?) -> [String] {
        guard let lease = connection["lease"] as? [String: Any] else { return [] }
        var leaseLine = Output.text(lease, "state")
        if lease["lastHeartbeatAt"] is String { leaseLine += ", last heartbeat \(Output.text(lease, "lastHeartbeatAt"))" }
        if let heartbeat, heartbeat["leaseExpiresAt"] is String, lease["state"] as? String == "alive" { leaseLine += ", until \(Output.text(heartbeat, "leaseExpiresAt"))" }
        if lease["lastError"] is String { leaseLine += " (\(Output.text(lease, "lastError")))" }
        var lines = ["LEASE       \(leaseLine)"]
        guard let heartbeat else { return lines + ["SPOKE       no heartbeat yet"] }
        let summary = heartbeat["summary"] as? [String: Any] ?? [:]
        let byStatus = (summary["byStatus"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }
            .map { "\(TerminalText.escaped($0.key)) \(Output.text(["n": $0.value], "n"))" }.joined(separator: ", ")
        lines.append("SPOKE       version \(Output.text(heartbeat, "version")), \(Output.text(summary, "totalCount")) connections"
                     + (byStatus.isEmpty ? "" : ": \(byStatus)"))
        return lines
    }
}
