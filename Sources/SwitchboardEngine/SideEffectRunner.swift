import ConnectionLifecycle
import Foundation
import Logging
import StoreContract

/// Runs the side effects of committed changes (start and stop sessions, purge data), one
/// connection's effects strictly in the order they were queued, different connections in
/// parallel. A failing effect is logged and does not block the ones after it.
actor SideEffectRunner {
    private let sessions: SessionManager
    private let store: any ConnectionStore
    private let logger: Logger
    private let now: @Sendable () -> Date
    private var tails: [UUID: (token: Int, task: Task<Void, Never>)] = [:]
    private var nextToken = 0

    init(sessions: SessionManager, store: any ConnectionStore, logger: Logger, now: @escaping @Sendable () -> Date) {
        self.sessions = sessions
        self.store = store
        self.logger = logger
        self.now = now
    }

    func enqueue(_ effects: [SideEffect], for connection: Connection) {
        guard !effects.isEmpty else { return }
        let sessions = sessions
        let store = store
        let logger = logger
        let now = now
        chain(connection.id) {
            for effect in effects {
                do {
                    switch effect {
                    case .startSession: await sessions.start(connection)
                    case .stopSession: await sessions.stop(connection.id)
                    case .purgeData: try await store.purgeCollectedData(connectionId: connection.id)
                    // Kept while another live connection shares it (a cluster's scanned services).
                    case .dropOwnedCredential:
                        if let id = connection.credentialId {
                            try await store.deleteCredentialIfUnused(id: id, audit: AuditEvent(
                                subjectType: "credential", subjectId: id, action: .deleted, actor: Principal.system.name,
                                actorRole: .system, detail: "deleted with the last connection that used it",
                                correlationId: UUID(), at: now().truncatedToMilliseconds))
                        }
                    }
                } catch {
                    logger.error("side effect failed", metadata: [
                        "connection": "\(connection.id.lowercasedString)", "effect": "\(effect.rawValue)",
                        "error": "\(error)",
                    ])
                }
            }
        }
    }

    /// Follows a change another replica committed (its own effects ran there): the session
    /// runs where the connection is owned, and what a session here may have collected after
    /// that replica purged a deleted connection's data is purged again.
    func enqueueFollow(_ connection: Connection) {
        let sessions = sessions
        let store = store
        let logger = logger
        chain(connection.id) {
            await sessions.follow(connection)
            guard connection.status == .deleted else { return }
            do {
                try await store.purgeCollectedData(connectionId: connection.id)
            } catch {
                logger.error("side effect failed", metadata: [
                    "connection": "\(connection.id.lowercasedString)", "effect": "purgeData", "error": "\(error)",
                ])
            }
        }
    }

    /// Runs `work` after everything queued for the connection so far.
    private func chain(_ id: UUID, _ work: @escaping @Sendable () async -> Void) {
        let previous = tails[id]?.task
        nextToken += 1
        let token = nextToken
        let task = Task {
            await previous?.value
            await work()
            self.finished(id, token: token)
        }
        tails[id] = (token, task)
    }

    /// Waits until every effect queued so far has run (for shutdown and tests).
    func drain() async {
        for (_, tail) in tails { await tail.task.value }
    }

    private func finished(_ id: UUID, token: Int) {
        if tails[id]?.token == token { tails[id] = nil }
    }
}
