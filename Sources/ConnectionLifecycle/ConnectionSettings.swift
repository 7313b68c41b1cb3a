/// The numeric settings a connection's metadata may carry: how often and how patiently the
/// server checks it and runs its session. One table, read by the monitor and the drivers
/// (which use a value only when it is in range) and by every way in (which refuses a value
/// that is not).
public struct NumericSetting: Sendable {
    public let key: String
    public let range: ClosedRange<Double>
    /// The least a member may set: these settings decide how often the server sends requests
    /// on the member's behalf (a member once set 0.05 s and made 975 probes in 10 s from five
    /// connections). Admins may go down to `range`'s lower bound.
    public let memberMinimum: Double?
    public let wholeNumber: Bool
    public let unit: String

    /// The value in `metadata` when it is a number in range; nil when absent or unusable.
    public func value(in metadata: [String: JSONValue]) -> Double? {
        guard case .number(let value)? = metadata[key], range.contains(value),
              !wholeNumber || value.rounded() == value else { return nil }
        return value
    }
}

public enum ConnectionSettings {
    static let seconds: ClosedRange<Double> = 0.05...86_400
    static let memberInterval = 5.0

    public static let healthInterval = interval(HealthPolicy.OverrideKey.intervalSeconds)
    public static let healthRegisteredInterval = interval(HealthPolicy.OverrideKey.registeredIntervalSeconds)
    public static let healthTimeout = NumericSetting(key: HealthPolicy.OverrideKey.timeoutSeconds, range: 0.05...600,
                                                     memberMinimum: nil, wholeNumber: false, unit: "seconds")
    public static let failureThreshold = count(HealthPolicy.OverrideKey.failureThreshold)
    public static let recoveryThreshold = count(HealthPolicy.OverrideKey.recoveryThreshold)
    /// Session rounds of the kinds that collect (Prometheus queries, Grafana dashboards, Helm charts).
    public static let queryInterval = interval("queryIntervalSeconds")
    public static let refreshInterval = interval("refreshIntervalSeconds")
    public static let reindexInterval = interval("reindexIntervalSeconds")

    public static let all = [healthInterval, healthRegisteredInterval, healthTimeout, failureThreshold, recoveryThreshold,
                             queryInterval, refreshInterval, reindexInterval]

    static func interval(_ key: String) -> NumericSetting {
        NumericSetting(key: key, range: seconds, memberMinimum: memberInterval, wholeNumber: false, unit: "seconds")
    }

    static func count(_ key: String) -> NumericSetting {
        NumericSetting(key: key, range: 1...1000, memberMinimum: nil, wholeNumber: true, unit: "")
    }

    /// The first setting in `metadata` that may not be stored, as the field to fix and why;
    /// nil when every setting present is a number in range (`member`: within a member's floor).
    public static func refusal(in metadata: [String: JSONValue], member: Bool) -> (field: String, detail: String)? {
        for setting in all {
            guard let given = metadata[setting.key] else { continue }
            let lower = member ? max(setting.range.lowerBound, setting.memberMinimum ?? setting.range.lowerBound)
                               : setting.range.lowerBound
            let unit = setting.unit.isEmpty ? "" : " \(setting.unit)"
            let wanted = "must be a \(setting.wholeNumber ? "whole number" : "number") from \(format(lower)) to \(format(setting.range.upperBound))\(unit)"
                + (member && lower > setting.range.lowerBound ? " (the least a member may set)" : "")
            guard case .number(let value) = given else {
                return ("metadata.\(setting.key)", "\(wanted), not \(describe(given))")
            }
            guard value.isFinite, (lower...setting.range.upperBound).contains(value),
                  !setting.wholeNumber || value.rounded() == value else {
                return ("metadata.\(setting.key)", "\(wanted), not \(format(value))")
            }
        }
        return nil
    }

    static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): "\(flag)"
        case .number(let number): format(number)
        case .string(let text): "the text \"\(text.prefix(40))\""
        case .array: "a list"
        case .object: "an object"
        }
    }
}
