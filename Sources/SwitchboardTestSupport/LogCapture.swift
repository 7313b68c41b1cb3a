import Logging
import Synchronization

/// Keeps every line logged through `logger`, so tests can count what a part said (each
/// state change once, never once per try).
public final class LogCapture: Sendable {
    public struct Entry: Sendable, CustomStringConvertible {
        public var level: Logger.Level
        public var message: String

        public var description: String { "\(level): \(message)" }
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    /// A logger writing here, every level included.
    public var logger: Logger {
        Logger(label: "captured") { _ in CapturingHandler(capture: self) }
    }

    public var lines: [Entry] { entries.withLock { $0 } }

    /// How many lines contain `text`.
    public func count(_ text: String) -> Int {
        entries.withLock { $0.filter { $0.message.contains(text) }.count }
    }

    /// Everything logged, one line each (for failure messages).
    public var text: String { lines.map(\.description).joined(separator: "\n") }

    fileprivate func append(_ entry: Entry) {
        entries.withLock { $0.append(entry) }
    }
}

private struct CapturingHandler: LogHandler {
    let capture: LogCapture
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        capture.append(.init(level: event.level, message: event.message.description))
    }
}
