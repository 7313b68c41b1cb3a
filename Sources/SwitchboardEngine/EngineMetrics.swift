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

    /// How many connections this replica watches (probes, and runs the sessions of).
    func owned(_ count: Int) {
        Gauge(label: "switchboard_replica_owned_connections", factory: factory).record(count)
    }

    /// Connections this replica took over from another when the members changed.
    func handedOver(_ count: Int) {
        Counter(label: "switchboard_replica_handovers_total", factory: factory).increment(by: count)
    }

    /// This process's replica id, as a label on a constant 1 (so every series can be joined to it).
    public func replica(_ id: String) {
        Gauge(label: "switchboard_replica_info", dimensions: [("replica", id)], factory: factory).record(1)
    }
}
