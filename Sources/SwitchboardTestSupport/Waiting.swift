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
