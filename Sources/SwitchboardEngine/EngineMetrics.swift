import ConnectionLifecycle
import CoreMetrics
import Foundation
import NIOCore

/// The engine's and monitor's metrics, through swift-metrics with the factory the server
/// chooses (Prometheus in `switchboard serve`; no global bootstrap, so tests can run
/// several servers in one process).
public struct EngineMetrics: Sendable {
    private let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Metrics that go nowhere, for tests that do not look at them.
    public static let discarded = EngineMetrics(factory: NOOPMetricsHandler.instance)

    func transitionCommitted(from: ConnectionStatus?, to: ConnectionStatus, actor: ActorRole) {
        Counter(label: "switchboard_transitions_total",
                dimensions: [("from", from?.wireName ?? "none"), ("to", to.wireName), ("actor", actor.rawValue)],
                factory: factory).increment()
    }

    func probed(kind: String, latency: Duration) {
        Timer(label: "switchboard_probe_duration_seconds", dimensions: [("kind", kind)], factory: factory)
            .recordNanoseconds(Int64(TimeAmount(latency).nanoseconds))
    }

    /// How many connections of a kind the monitor watches whose last check found `health`.
    /// Counts, not a series per connection: at 100k connections a per-connection series
    /// made every new one copy the registry's whole table (measured: three quarters of the
    /// monitor's CPU), and per-connection health is in the API.
    func monitored(kind: String, health: HealthState, count: Int) {
        Gauge(label: "switchboard_monitored_connections", dimensions: [("kind", kind), ("health", health.rawValue)],
              factory: factory).record(count)
    }
}
