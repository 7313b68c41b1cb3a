import Foundation
import StoreContract
import GRDB
import Synchronization

/// Recently read connection details (the API's most frequent read), kept so that a repeat
/// read needs no trip to the database's reader queue: those thread hand-offs, not the SQL,
/// were most of a `GET /connections/{id}`.
///
/// It never serves a stale answer: as a GRDB transaction observer on the store's writer it
/// sees every commit that touches connections, their health, their environments or those environments' rows, and
/// empties itself when one commits. A read that began before such a commit is not
/// remembered (the generation it started at has passed). Only this process writes those
/// tables (the command line's direct writes are tokens and users), so the writer sees them all.
final class ConnectionDetailsCache: TransactionObserver, Sendable {
    /// `environments` too: a connection's details show its environments' names.
    static let observedTables: Set<String> = ["connections", "connection_health", "environment_connections", "environments"]

    private struct State {
        var generation: UInt64 = 0
        var entries: [UUID: ConnectionDetails] = [:]
    }

    private let state = Mutex(State())
    /// Whether the open transaction changed an observed table; touched on the writer queue only.
    private let changed = Atomic<Bool>(false)
    let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// The remembered details of `id`, or the generation to hand back to `remember` after
    /// reading them from the database.
    func lookup(_ id: UUID) -> Result<ConnectionDetails, Miss> {
        state.withLock { state in
            if let details = state.entries[id] { return .success(details) }
            return .failure(Miss(generation: state.generation))
        }
    }

    struct Miss: Error {
        let generation: UInt64
    }

    /// Keeps `details`, unless a change committed since the read began.
    func remember(_ details: ConnectionDetails, after miss: Miss) {
        state.withLock { state in
            guard state.generation == miss.generation else { return }
            // Past capacity start over: simple, and a hot set smaller than it stays cached.
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[details.connection.id] = details
        }
    }

    private func forgetEverything() {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeAll(keepingCapacity: true)
        }
    }

    // MARK: TransactionObserver (called on the writer queue)

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        Self.observedTables.contains(eventKind.tableName)
    }

    func databaseDidChange(with event: DatabaseEvent) {
        changed.store(true, ordering: .relaxed)
        stopObservingDatabaseChangesUntilNextTransaction()
    }

    func databaseDidChange() {
        changed.store(true, ordering: .relaxed)
        stopObservingDatabaseChangesUntilNextTransaction()
    }

    func databaseDidCommit(_ db: Database) {
        if changed.exchange(false, ordering: .relaxed) { forgetEverything() }
    }

    func databaseDidRollback(_ db: Database) {
        changed.store(false, ordering: .relaxed)
    }
}
