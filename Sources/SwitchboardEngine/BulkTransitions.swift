import ConnectionLifecycle
import Foundation
import StoreContract

extension ConnectionEngine {
    /// Moves many connections to `status` for one request, each decided on its own. Moves
    /// that need no check commit together in one transaction, each with its own
    /// compare-and-set and event (a transaction each was most of a bulk request's time).
    /// A move that must verify, is refused, deletes, or lost a race takes the single path
    /// (`transition`), so every answer is the one a request of its own would get.
    /// `permit` throws for a connection the caller may not move.
    public func transitionMany(_ ids: [UUID], to status: ConnectionStatus, by principal: Principal, reason: String?,
                               correlationId: UUID, permit: @escaping @Sendable (Connection) async throws -> Void)
        async -> [UUID: Result<Connection, any Error>] {
        var results: [UUID: Result<Connection, any Error>] = [:]
        let found: [UUID: Connection]
        do {
            try ConnectionRules.check(reason: reason)
            found = try await store.connections(ids: ids)
        } catch {
            return Dictionary(ids.map { ($0, .failure(error)) }, uniquingKeysWith: { first, _ in first })
        }
        let at = now().truncatedToMilliseconds
        var batch: [(move: StoredMove, effects: [SideEffect])] = []
        var single: [UUID] = []
        for id in ids {
            guard let current = found[id] else {
                results[id] = .failure(EngineError.notFound(id))
                continue
            }
            do {
                try await permit(current)
            } catch {
                results[id] = .failure(error)
                continue
            }
            if let quick = quickMove(current, to: status, by: principal, reason: reason, correlationId: correlationId, at: at) {
                batch.append(quick)
            } else {
                single.append(id)
            }
        }
        if !batch.isEmpty {
            do {
                let stored = try await commitMany(batch)
                for (move, _) in batch {
                    let id = move.connection.id
                    if let connection = stored[id] { results[id] = .success(connection) } else { single.append(id) }
                }
            } catch {
                for (move, _) in batch { results[move.connection.id] = .failure(error) }
            }
        }
        let rest = await BoundedConcurrency.map(single) { id in
            do {
                return (id, Result<Connection, any Error>.success(
                    try await self.transition(id, to: status, by: principal, reason: reason, correlationId: correlationId)))
            } catch {
                return (id, .failure(error))
            }
        }
        for (id, result) in rest { results[id] = result }
        return results
    }

    /// The move of `current` to `status` as `attempt` builds it, when it needs no check and
    /// writes nothing but the row and its event; nil when it must take the single path.
    private func quickMove(_ current: Connection, to status: ConnectionStatus, by principal: Principal, reason: String?,
                           correlationId: UUID, at: Date) -> (move: StoredMove, effects: [SideEffect])? {
        guard status != current.status, status != .deleted, current.status != .deleted else { return nil }
        let request = TransitionRequest(from: current.status, to: status, actor: principal.role,
                                        lastChangedBy: current.statusChangedBy)
        guard case .allowed(let plan) = Lifecycle.decide(request, kind: kind(of: current)), !plan.verify else { return nil }
        var updated = current
        updated.updatedAt = at
        let (moved, event) = Self.moving(updated, from: current, to: status, by: principal, reason: reason,
                                         correlationId: correlationId, at: at)
        return (StoredMove(connection: moved, expectedVersion: current.version, event: event), plan.effects)
    }
}
