import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import Logging
import NIOCore
import NIOPosix

/// The generic driver: a connection is reachable when its `url` answers any HTTP status
/// below 500 within the timeout. Every kind uses it until its own driver exists; sessions
/// collect nothing yet, so starting, stopping and purging only log.
public struct HTTPReachabilityDriver: ConnectionDriver {
    private let client: HTTPClient
    private let timeout: Duration
    private let logger: Logger

    public init(client: HTTPClient, timeout: Duration = .seconds(5), logger: Logger) {
        self.client = client
        self.timeout = timeout
        self.logger = logger
    }

    public func verify(_ connection: Connection) async -> CheckResult {
        let clock = ContinuousClock()
        let start = clock.now
        func result(_ health: CheckResult.Health, _ error: String?) -> CheckResult {
            CheckResult(health: health, error: error, latency: clock.now - start)
        }
        guard let url = connection.url, !url.isEmpty else {
            return result(.unknown, "the connection has no url to check")
        }
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
              scheme == "http" || scheme == "https", parsed.host != nil else {
            return result(.unknown, "url \(url) is not an http or https URL")
        }
        do {
            var request = HTTPClientRequest(url: url)
            request.method = .GET
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.nanoseconds)))
            // Only the status matters; drain at most a little of the body so the connection can be reused.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let status = response.status.code
            if status < 500 { return result(.reachable, nil) }
            return result(.unreachable, "\(url) answered HTTP \(status)")
        } catch {
            return result(.unreachable, "\(url): \(Self.describe(error))")
        }
    }

    public func startSession(_ connection: Connection) async throws {
        logger.debug("session started", metadata: ["connection": "\(connection.id.uuidString.lowercased())"])
    }

    public func stopSession(_ connection: Connection) async throws {
        logger.debug("session stopped", metadata: ["connection": "\(connection.id.uuidString.lowercased())"])
    }

    public func purgeData(_ connection: Connection) async throws {
        logger.debug("collected data purged", metadata: ["connection": "\(connection.id.uuidString.lowercased())"])
    }

    /// A short reason a person can act on: refused, timed out, TLS, DNS.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout: return "timed out"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "\(error)"
            }
        }
        if error is NIOConnectionError || error is ChannelError { return "connection failed (\(error))" }
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return text
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
