import Foundation

/// One async lock per connection id. The engine holds it only around "commit, then queue
/// the side effects", so effects are queued in the order their changes committed.
actor ConnectionLocks {
    private var held: Set<UUID> = []
    private var waiters: [UUID: [CheckedContinuation<Void, Never>]] = [:]

    func withLock<T: Sendable>(_ id: UUID, _ body: @Sendable () async throws -> T) async throws -> T {
        await lock(id)
        do {
            let value = try await body()
            unlock(id)
            return value
        } catch {
            unlock(id)
            throw error
        }
    }

    /// Holds the locks of every id in `ids` around `body`. They are taken in one order (by
    /// id), and a single lock is never held while waiting for another, so no two callers can
    /// wait on each other.
    func withLocks<T: Sendable>(_ ids: [UUID], _ body: @Sendable () async throws -> T) async throws -> T {
        let ordered = Set(ids).sorted { $0.uuidString < $1.uuidString }
        for id in ordered { await lock(id) }
        defer { for id in ordered { unlock(id) } }
        return try await body()
    }

    private func lock(_ id: UUID) async {
        if held.insert(id).inserted { return }
        await withCheckedContinuation { waiters[id, default: []].append($0) }
    }

    /// Hands the lock straight to the next waiter, if any, so no one can barge in between.
    private func unlock(_ id: UUID) {
        if var queue = waiters[id], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[id] = queue.isEmpty ? nil : queue
            next.resume()
        } else {
            held.remove(id)
        }
    }
}
