import Logging
import PostgresNIO

/// The session-level advisory locks that show a replica's process is still there: one per
/// replica id this process beats for, each held on a pooled connection of its own until the id
/// leaves. PostgreSQL releases a session lock the moment its connection closes, and the
/// kernel closes a killed process's sockets at once, so the others see a SIGKILLed replica
/// gone within a heartbeat instead of a member TTL (`heartbeat(…, endedAfter:)`).
///
/// A machine that vanishes without closing its sockets keeps its lock until PostgreSQL's
/// keepalive gives up; the member TTL still bounds that case.
actor PostgresLivenessLocks {
    /// Liveness locks use the two-key form, in a class of their own ("SWBR"); the second key
    /// is the server's `hashtext` of the replica id, so a query can name any member's lock.
    static let lockClass: Int32 = 0x5357_4252

    private struct Holder {
        var task: Task<Void, Never>
        /// The backend that holds the lock, once it does.
        var backend: Int32?
        /// Whether the holder has tried at least once (a heartbeat waits for that, briefly).
        var tried = false
        var stopping = false
        var ended = false
    }

    private let client: PostgresClient
    private let logger: Logger
    private var holders: [String: Holder] = [:]

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Starts holding `id`'s lock if this process does not yet, and waits (at most `limit`)
    /// for a first try; answers the backend that holds it, if it does (a heartbeat's own check
    /// of whether `id` was a member must not count this process's fresh lock).
    func hold(_ id: String, waitingAtMost limit: Duration) async -> Int32? {
        if holders[id] == nil {
            holders[id] = Holder(task: Task { await self.keep(id) })
        }
        let deadline = ContinuousClock.now + limit
        while holders[id]?.tried == false, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return holders[id]?.backend
    }

    /// Releases `id`'s lock (a replica that leaves) and waits until it is released, or for at
    /// most two seconds: a holder still waiting for a connection while the database is down
    /// is cancelled instead (its lock, if any, ends with its connection when the pool closes).
    func release(_ id: String) async {
        guard let holder = holders[id] else { return }
        holders[id]?.stopping = true
        let deadline = ContinuousClock.now + .seconds(2)
        while holders[id]?.ended == false, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        holder.task.cancel()
        holders[id] = nil
    }

    func releaseAll() async {
        for id in holders.keys { await release(id) }
    }

    private func isStopping(_ id: String) -> Bool { holders[id]?.stopping ?? true }

    private func note(_ id: String, backend: Int32?) {
        holders[id]?.backend = backend
        holders[id]?.tried = true
    }

    /// Takes the lock on a connection of its own and keeps it until the id leaves; when the
    /// connection drops (the server restarted), takes it again on a new one.
    private func keep(_ id: String) async {
        let lockClass = Self.lockClass
        while !isStopping(id) {
            do {
                try await client.withConnection { connection in
                    let backend = try await connection.rows("SELECT pg_backend_pid()").first?.decode(Int32.self)
                    // Another process beating for the same id may hold it (or a killed one's
                    // backend that has not noticed yet): try again every second meanwhile.
                    while await !self.isStopping(id), !connection.isClosed {
                        let locked = try await connection.rows(
                            "SELECT pg_try_advisory_lock(\(lockClass), hashtext(\(id)))").first?.decode(Bool.self) ?? false
                        await self.note(id, backend: locked ? backend : nil)
                        if locked { break }
                        try await Task.sleep(for: .seconds(1))
                    }
                    while await !self.isStopping(id), !connection.isClosed {
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    // A connection that goes back to the pool must not keep the lock.
                    if !connection.isClosed { try await connection.run("SELECT pg_advisory_unlock_all()") }
                }
            } catch {
                logger.debug("the replica's liveness lock was lost; taking it again", metadata: ["error": "\(error)"])
            }
            note(id, backend: nil)
            if !isStopping(id) { try? await Task.sleep(for: .seconds(1)) }
        }
        holders[id]?.ended = true
    }
}
