import ConnectionLifecycle
import Foundation

/// The outcome of a reachability check.
public struct CheckResult: Sendable, Hashable {
    public enum Health: String, Sendable, Hashable, Codable {
        case reachable, unreachable, unauthorized, unknown
    }

    public var health: Health
    /// What went wrong, in words a user can act on; `nil` when reachable.
    public var error: String?
    public var latency: Duration

    public init(health: Health, error: String? = nil, latency: Duration) {
        self.health = health
        self.error = error
        self.latency = latency
    }

    public var isReachable: Bool { health == .reachable }
}

/// What Switchboard does with the thing a connection points at, for one kind.
public protocol ConnectionDriver: Sendable {
    /// The check a `verify` edge runs before its change commits.
    func verify(_ connection: Connection) async -> CheckResult
    /// Begins what "connected" means for the kind.
    func startSession(_ connection: Connection) async throws
    func stopSession(_ connection: Connection) async throws
    /// Deletes what the session collected.
    func purgeData(_ connection: Connection) async throws
}

/// The driver for each kind, looked up by kind name.
public struct DriverCatalog: Sendable {
    private let drivers: [String: any ConnectionDriver]
    private let fallback: any ConnectionDriver

    public init(drivers: [String: any ConnectionDriver] = [:], fallback: any ConnectionDriver) {
        self.drivers = drivers
        self.fallback = fallback
    }

    public func driver(for kind: String) -> any ConnectionDriver {
        drivers[kind] ?? fallback
    }
}
