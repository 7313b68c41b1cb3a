import ConnectionLifecycle
import Foundation
import Logging
import ServiceLifecycle
import StoreContract

/// Tells this replica of changes other replicas commit: it reads the shared change log (the
/// truth, in commit order) from where it last stopped, and hands the connections those
/// events touched to the engine (the monitor and the sessions follow them). Its own commits
/// come back too; the engine's feed passes on only what is newer than it already knew.
public actor ChangeFollower: Service {
    private let engine: ConnectionEngine
    private let logger: Logger
    private var position: Int64?

    /// How often the log is read: a change reaches the other replicas within this (plus a read).
    public static let interval: Duration = .milliseconds(200)

    public init(engine: ConnectionEngine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    /// Marks where following starts (call before the monitor loads what it watches, so
    /// nothing committed in between is missed).
    public func start() async throws {
        position = try await engine.store.latestEventSequence()
    }

    public func run() async throws {
        if position == nil { try await start() }
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let more = try await followOnce()
                if failing { logger.info("reading the shared change log again") }
                failing = false
                if more { continue }
            } catch is CancellationError {
                break
            } catch {
                if !failing {
                    logger.warning("could not read the shared change log; retrying", metadata: ["error": "\(error)"])
                }
                failing = true
            }
            try? await Task.sleep(for: Self.interval)
        }
    }

    /// Reads one page of the log after the position; says whether there may be more.
    private func followOnce() async throws -> Bool {
        let after = position ?? 0
        let events = try await engine.store.eventLog(EventLogQuery(after: after, limit: 1000))
        guard let last = events.last else { return false }
        var seen = Set<UUID>()
        let ids = events.map(\.connectionId).filter { seen.insert($0).inserted }
        let connections = try await engine.store.connections(ids: ids)
        await engine.followCommitted(elsewhere: ids.compactMap { connections[$0] })
        position = last.sequence
        return events.count == 1000
    }
}
