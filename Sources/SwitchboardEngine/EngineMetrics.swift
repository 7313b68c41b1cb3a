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

    func probed(_ connection: Connection, state: HealthState, latency: Duration) {
        Timer(label: "switchboard_probe_duration_seconds", dimensions: [("kind", connection.kind)], factory: factory)
            .recordNanoseconds(Int64(TimeAmount(latency).nanoseconds))
        connectionUp(connection, up: state == .reachable)
    }

    func connectionUp(_ connection: Connection, up: Bool) {
        Gauge(label: "switchboard_connection_up",
              dimensions: [("connection", connection.id.lowercasedString), ("name", connection.name),
                           ("kind", connection.kind)],
              factory: factory).record(up ? 1 : 0)
    }
}
