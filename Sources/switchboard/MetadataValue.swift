import ArgumentParser
import ConnectionLifecycle
import Foundation

/// `--metadata key=value` as JSON: settings such as `healthIntervalSeconds=30` are numbers
/// to the server, and a flag like `tls=true` a boolean, so the value is read as JSON would
/// read it. A value in double or single quotes (`port='"8080"'` in a shell) stays text.
enum MetadataValue {
    static func parse(_ entry: String) throws -> (key: String, value: JSONValue) {
        let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else {
            throw ValidationError("--metadata must be key=value, not '\(entry)'")
        }
        return (String(parts[0]), value(String(parts[1])))
    }

    static func value(_ text: String) -> JSONValue {
        for quote in ["\"", "'"] where text.count >= 2 && text.hasPrefix(quote) && text.hasSuffix(quote) {
            return .string(String(text.dropFirst().dropLast()))
        }
        switch text {
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: break
        }
        // JSON's number grammar (no leading zeros: 0755 stays text), and only numbers a
        // double holds exactly (a 20-digit id stays text).
        if text.range(of: #"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"#, options: .regularExpression) != nil,
           let number = Double(text), number.isFinite, abs(number) < 9_007_199_254_740_992 {
            return .number(number)
        }
        return .string(text)
    }

    static func dictionary(_ entries: [String]) throws -> [String: JSONValue]? {
        guard !entries.isEmpty else { return nil }
        var result: [String: JSONValue] = [:]
        for entry in entries {
            let (key, value) = try parse(entry)
            result[key] = value
        }
        return result
    }
}
