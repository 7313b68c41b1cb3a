import Foundation

/// What the last probe observed. Written only by probes; status changes only through the
/// damped rules of `HealthDamping`.
public enum HealthState: String, Sendable, Hashable, Codable, CaseIterable {
    case reachable, unreachable, unauthorized, unknown
}

/// A connection's observed health: the last check and the runs of successes and failures.
public struct HealthRecord: Sendable, Hashable {
    public var connectionId: UUID
    public var state: HealthState
    public var checkedAt: Date?
    /// Milliseconds the last check took.
    public var latencyMilliseconds: Double?
    public var lastError: String?
    public var consecutiveSuccesses: Int
    public var consecutiveFailures: Int

    public init(connectionId: UUID, state: HealthState = .unknown, checkedAt: Date? = nil,
                latencyMilliseconds: Double? = nil, lastError: String? = nil,
                consecutiveSuccesses: Int = 0, consecutiveFailures: Int = 0) {
        self.connectionId = connectionId
        self.state = state
        self.checkedAt = checkedAt
        self.latencyMilliseconds = latencyMilliseconds
        self.lastError = lastError
        self.consecutiveSuccesses = consecutiveSuccesses
        self.consecutiveFailures = consecutiveFailures
    }

    /// The record after one more check.
    public func recording(_ state: HealthState, error: String?, latencyMilliseconds: Double, at date: Date) -> HealthRecord {
        var next = self
        next.state = state
        next.checkedAt = date
        next.latencyMilliseconds = latencyMilliseconds
        if state == .reachable {
            next.consecutiveSuccesses += 1
            next.consecutiveFailures = 0
            next.lastError = nil
        } else {
            next.consecutiveFailures += 1
            next.consecutiveSuccesses = 0
            next.lastError = error
        }
        return next
    }
}

/// How often and how patiently connections are checked. Every value can be set for the
/// server and overridden per connection.
public struct HealthPolicy: Sendable, Hashable {
    /// Between checks of connected and system-disconnected connections.
    public var interval: Duration
    /// Between checks of registered connections (they are not in use, so less often).
    public var registeredInterval: Duration
    /// How long one check may take.
    public var timeout: Duration
    /// Consecutive failures before `connected → disconnected` or `registered → not found`.
    public var failureThreshold: Int
    /// Consecutive successes before a system-disconnected connection returns to `connected`.
    public var recoveryThreshold: Int
    /// The longest wait between checks of a target that stays down.
    public var maxBackoff: Duration

    public init(interval: Duration = .seconds(15), registeredInterval: Duration = .seconds(60),
                timeout: Duration = .seconds(5), failureThreshold: Int = 3, recoveryThreshold: Int = 2,
                maxBackoff: Duration = .seconds(300)) {
        self.interval = interval
        self.registeredInterval = registeredInterval
        self.timeout = timeout
        self.failureThreshold = failureThreshold
        self.recoveryThreshold = recoveryThreshold
        self.maxBackoff = maxBackoff
    }

    public static let standard = HealthPolicy()

    /// Metadata keys that override the server's policy for one connection.
    public enum OverrideKey {
        public static let intervalSeconds = "healthIntervalSeconds"
        public static let registeredIntervalSeconds = "healthRegisteredIntervalSeconds"
        public static let timeoutSeconds = "healthTimeoutSeconds"
        public static let failureThreshold = "healthFailureThreshold"
        public static let recoveryThreshold = "healthRecoveryThreshold"
    }

    /// This policy with the overrides a connection's metadata carries (`ConnectionSettings`:
    /// numbers in range only, as the API checks them; anything else, stored before that
    /// check, is ignored).
    public func overridden(by metadata: [String: JSONValue]) -> HealthPolicy {
        var policy = self
        if let value = ConnectionSettings.healthInterval.value(in: metadata) { policy.interval = .seconds(value) }
        if let value = ConnectionSettings.healthRegisteredInterval.value(in: metadata) { policy.registeredInterval = .seconds(value) }
        if let value = ConnectionSettings.healthTimeout.value(in: metadata) { policy.timeout = .seconds(value) }
        if let value = ConnectionSettings.failureThreshold.value(in: metadata) { policy.failureThreshold = Int(value) }
        if let value = ConnectionSettings.recoveryThreshold.value(in: metadata) { policy.recoveryThreshold = Int(value) }
        return policy
    }

    /// When to check again: the status's interval, stretched exponentially (up to
    /// `maxBackoff`) while failures continue past the threshold.
    public func delay(status: ConnectionStatus, health: HealthRecord) -> Duration {
        let base = status == .registered ? registeredInterval : interval
        let excess = health.consecutiveFailures - failureThreshold
        guard excess > 0 else { return base }
        return min(base * Double(1 << min(excess, 16)), max(maxBackoff, base))
    }
}

/// The damped rules: the only way observed health moves a status. Pure.
public enum HealthDamping {
    /// Whether a connection is probed at all: registered, connected, and disconnected only
    /// when the system disconnected it. Admin decisions (ignored, maintenance, an admin's
    /// disconnect) are never second-guessed.
    public static func isProbed(status: ConnectionStatus, lastChangedBy: ActorRole) -> Bool {
        switch status {
        case .registered, .connected: true
        case .disconnected: lastChangedBy == .system
        default: false
        }
    }

    /// The status change the system should request after `health` was recorded, if any.
    public static func automaticTransition(status: ConnectionStatus, lastChangedBy: ActorRole,
                                           health: HealthRecord, policy: HealthPolicy) -> (to: ConnectionStatus, reason: String)? {
        let failure = health.lastError ?? health.state.rawValue
        switch status {
        case .connected where health.consecutiveFailures >= policy.failureThreshold:
            return (.disconnected, "\(health.consecutiveFailures) consecutive checks failed: \(failure)")
        case .registered where health.consecutiveFailures >= policy.failureThreshold:
            return (.notFound, "\(health.consecutiveFailures) consecutive checks failed: \(failure)")
        case .disconnected where lastChangedBy == .system && health.consecutiveSuccesses >= policy.recoveryThreshold:
            return (.connected, "reachable again: \(health.consecutiveSuccesses) consecutive checks succeeded")
        default:
            return nil
        }
    }
}
