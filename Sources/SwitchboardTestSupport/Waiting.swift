import NIOCore

/// Raised when something a test waits for does not happen in time.
public struct TimedOut: Error, CustomStringConvertible {
    public let description: String
}

/// Polls `condition` every 25 ms until it holds; throws `TimedOut` after `timeout`.
public func waitUntil(timeout: Duration = .seconds(15), _ what: String = "condition",
                      _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    throw TimedOut(description: "\(what) not met within \(timeout)")
}

/// Reads a streamed answer (Server-Sent Events) until the server ends it; nil when it is
/// still open after `timeout`.
public func readUntilEnd<Body: AsyncSequence & Sendable>(_ body: Body, timeout: Duration) async -> String?
where Body.Element == ByteBuffer {
    let reading = Task {
        var text = ""
        for try await chunk in body { text += String(buffer: chunk) }
        return text
    }
    let deadline = Task {
        try await Task.sleep(for: timeout)
        reading.cancel()
    }
    defer { deadline.cancel() }
    return try? await reading.value
}

/// Runs `operation` and cancels it after `timeout`: its own value or error when it ends in
/// time, `TimedOut` when it does not (once the cancelled operation has returned, so nothing
/// of it is left running).
public func withDeadline<T: Sendable>(_ timeout: Duration, _ what: String = "operation",
                                      _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TimedOut(description: "\(what) did not end within \(timeout)")
        }
        return value
    }
}
