import ConnectionLifecycle
import Foundation

/// How every backend writes JSON values (metadata, collected data) as text: keys sorted, so
/// equal values are equal text.
public enum JSONText {
    public static func encode(_ metadata: [String: JSONValue]) -> String {
        encode(JSONValue.object(metadata))
    }

    public static func encode(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(value)).flatMap { String(bytes: $0, encoding: .utf8) } ?? "null"
    }

    public static func decodeValue(_ text: String) -> JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .null
    }

    public static func decode(_ text: String) -> [String: JSONValue] {
        (try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))) ?? [:]
    }
}

extension Date {
    /// Whole milliseconds since 1970: what every store keeps. Callers create dates with
    /// `Date.now.truncatedToMilliseconds` so that a stored value reads back identical.
    public var storageMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    public init(storageMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(storageMilliseconds) / 1000)
    }
}

extension Duration {
    /// Whole milliseconds, as stores compare times.
    public var storageMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
