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
}
