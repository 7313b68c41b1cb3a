import Foundation
import Synchronization

/// The URL other servers reach this one at: `--advertise-url` when given, else the address
/// the listener is bound to, which is known only once it listens (`--port 0`).
public final class AdvertisedAddress: Sendable {
    private struct State {
        var bound: String?
        var waiters: [UUID: CheckedContinuation<String, any Error>] = [:]
    }

    /// `--advertise-url` (already checked by `ServerURL.parse`); nil for the listener's.
    public let configured: String?
    /// What is said before the listener is bound (in-process tests never bind one).
    private let fallback: String
    private let state = Mutex(State())

    public init(configured: String?, fallback: String) {
        self.configured = configured
        self.fallback = fallback
    }

    /// The address as known now.
    public var current: String { configured ?? state.withLock { $0.bound } ?? fallback }

    /// Called once the listener is bound, with `scheme://host:port`.
    public func listenerBound(_ url: String) {
        let waiters = state.withLock { state in
            state.bound = url
            defer { state.waiters = [:] }
            return state.waiters
        }
        for waiter in waiters.values { waiter.resume(returning: configured ?? url) }
    }

    /// The address, waiting until the listener is bound when none is configured. Throws
    /// `CancellationError` when the task is cancelled first.
    public func whenKnown() async throws -> String {
        if let configured { return configured }
        let id = UUID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // One look under the lock: bound, cancelled, or wait (a cancellation after this
                // finds the waiter and resumes it).
                let ready: Result<String, any Error>? = state.withLock { state in
                    if let bound = state.bound { return .success(bound) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
