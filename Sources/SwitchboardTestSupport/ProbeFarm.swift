import Foundation
import Hummingbird
import Synchronization

/// Many HTTP targets on one loopback port, for replica tests: `/t/<n>` is target n. Each
/// request is recorded with the replica that sent it (Switchboard's User-Agent names it:
/// `switchboard/<version> (replica <id>)`), and a target answers 200, or 503 while it is
/// set down. It stands in for a fleet of `http` targets: any HTTP server would do; this one
/// also says who checked what, and when.
public final class ProbeFarm: Sendable {
    /// One request a target received.
    public struct Check: Sendable {
        public var target: Int
        public var at: ContinuousClock.Instant
        public var replica: String
    }

    private final class Record: Sendable {
        let state = Mutex<(checks: [Check], down: Set<Int>)>(([], []))
    }

    private let server: LiveServer
    private let record: Record

    public var baseURL: String { "http://127.0.0.1:\(server.port)" }
    public func url(_ target: Int) -> String { "\(baseURL)/t/\(target)" }

    private init(server: LiveServer, record: Record) {
        self.server = server
        self.record = record
    }

    /// A fixed connection id for target `index` (`00000000-0000-4000-8000-000000000042`):
    /// which replica owns a connection then comes out the same in every run.
    public static func connectionId(_ index: Int) -> String {
        String(format: "00000000-0000-4000-8000-%012d", index)
    }

    public static func start() async throws -> ProbeFarm {
        let record = Record()
        let router = Router()
        router.get("t/:target") { request, context in
            let target = context.parameters.get("target", as: Int.self) ?? -1
            let agent = request.headers[.userAgent] ?? ""
            let replica = agent.range(of: "(replica ").map { String(agent[$0.upperBound...].dropLast()) } ?? agent
            let down = record.state.withLock { state in
                state.checks.append(Check(target: target, at: .now, replica: replica))
                return state.down.contains(target)
            }
            return Response(status: down ? .serviceUnavailable : .ok)
        }
        return ProbeFarm(server: try await LiveServer.start(router: router), record: record)
    }

    /// Every request so far, in the order they came.
    public var checks: [Check] { record.state.withLock { $0.checks } }

    /// Forgets the requests so far.
    public func resetChecks() { record.state.withLock { $0.checks.removeAll() } }

    /// Makes these targets answer 503 (and the others 200).
    public func setDown(_ targets: Set<Int>) { record.state.withLock { $0.down = targets } }

    public func stop() async { await server.stop() }
}
