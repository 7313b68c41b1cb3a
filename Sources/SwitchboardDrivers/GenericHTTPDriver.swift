import ConnectionLifecycle
import Foundation

/// The `http` kind, and any kind without a driver of its own: reachable when the url answers
/// any HTTP status below 500 within the timeout. Its session collects nothing.
public struct GenericHTTPDriver: ConnectionDriver {
    private let http: OutboundHTTP
    private let timeout: Duration

    public init(http: OutboundHTTP, timeout: Duration = .seconds(5)) {
        self.http = http
        self.timeout = timeout
    }

    public func verify(_ connection: Connection) async -> CheckResult {
        await probe(connection, timeout: timeout)
    }

    public func probe(_ connection: Connection, timeout: Duration) async -> CheckResult {
        let watch = Stopwatch()
        guard let url = connection.url, !url.isEmpty else {
            return CheckResult(health: .unknown, error: "the connection has no url to check", latency: watch.elapsed)
        }
        do {
            // A redirect is an answer too: it is not followed, and counts as reachable.
            let response = try await http.request(url, timeout: timeout, maxBody: 64 * 1024)
            if response.status < 500 { return CheckResult(health: .reachable, latency: watch.elapsed) }
            return CheckResult(health: .unreachable, error: "\(url) answered HTTP \(response.status)", latency: watch.elapsed)
        } catch OutboundError.crossHostRedirect {
            return CheckResult(health: .reachable, latency: watch.elapsed)
        } catch {
            let result = CheckResult.failed(error, latency: watch.elapsed)
            return CheckResult(health: result.health, error: "\(url): \(result.error ?? "failed")", latency: result.latency)
        }
    }

    /// Nothing to collect: a connected connection is only marked as in use.
    public var hasSession: Bool { false }

    public func runSession(_ connection: Connection, sink: any CollectedDataSink) async throws {}
}
