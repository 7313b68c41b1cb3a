import ConnectionLifecycle
import Foundation
import StoreContract

/// Environments as users manage them: checked, each change audited in the same
/// transaction. Memberships never touch a connection's status or history.
public struct EnvironmentService: Sendable {
    let store: any ConnectionStore
    let now: @Sendable () -> Date

    public init(store: any ConnectionStore, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.now = now
    }

    public func list(_ query: EnvironmentQuery) async throws -> EnvironmentListing {
        try await store.environments(query)
    }

    public func get(_ id: UUID) async throws -> Environment {
        guard let environment = try await store.environment(id: id) else { throw EngineError.environmentNotFound(id) }
        return environment
    }

    /// Creates an environment, with its first connections when given (all or nothing).
    public func create(name: String, description: String?, metadata: [String: JSONValue] = [:], members: [UUID] = [],
                       owner: UUID? = nil, by principal: Principal) async throws -> Environment {
        try ConnectionRules.check(name: name, description: description, url: nil)
        let at = now().truncatedToMilliseconds
        let environment = Environment(name: name, description: description, owner: owner, metadata: metadata,
                                      createdAt: at, updatedAt: at)
        let detail = members.isEmpty ? nil : "with \(members.count) connection(s)"
        do {
            try await store.insertEnvironment(environment, members: Array(Set(members)),
                                              audit: audit(environment.id, .created, principal, detail, at))
        } catch StoreError.notFound(let missing) {
            throw EngineError.invalid(field: "connections", detail: "connection \(missing.lowercasedString) does not exist")
        }
        return environment
    }

    /// Changes what is given, as a compare-and-set on the row's last update (a change that
    /// lost a race is decided again on what is there now).
    public func update(_ id: UUID, name: String?, description: String?, metadata: [String: JSONValue]?,
                       by principal: Principal) async throws -> Environment {
        try ConnectionRules.check(name: name, description: description, url: nil)
        return try await retryingLostRaces(id) {
            let current = try await get(id)
            var environment = current
            var changed: [String] = []
            if let name, name != environment.name { environment.name = name; changed.append("name") }
            if let description, description != environment.description { environment.description = description; changed.append("description") }
            if let metadata, metadata != environment.metadata { environment.metadata = metadata; changed.append("metadata") }
            guard !changed.isEmpty else { return environment }
            environment.updatedAt = max(now().truncatedToMilliseconds, current.updatedAt.addingTimeInterval(0.001))
            do {
                try await store.updateEnvironment(environment, expectedUpdatedAt: current.updatedAt, audit: audit(
                    id, .updated, principal, "changed \(changed.joined(separator: ", "))", environment.updatedAt))
            } catch StoreError.environmentNotFound {
                throw EngineError.environmentNotFound(id)
            }
            return environment
        }
    }

    /// Deletes the environment and its memberships; its connections stay as they are.
    public func delete(_ id: UUID, by principal: Principal) async throws {
        do {
            try await store.deleteEnvironment(id: id, audit: audit(id, .deleted, principal, nil, now().truncatedToMilliseconds))
        } catch StoreError.environmentNotFound {
            throw EngineError.environmentNotFound(id)
        }
    }

    public func add(_ connectionId: UUID, to id: UUID, by principal: Principal) async throws {
        do {
            try await store.addMember(connectionId, to: id, audit: audit(
                id, .updated, principal, "added connection \(connectionId.lowercasedString)", now().truncatedToMilliseconds))
        } catch StoreError.environmentNotFound {
            throw EngineError.environmentNotFound(id)
        } catch StoreError.notFound {
            throw EngineError.notFound(connectionId)
        }
    }

    public func remove(_ connectionId: UUID, from id: UUID, by principal: Principal) async throws {
        do {
            try await store.removeMember(connectionId, from: id, audit: audit(
                id, .updated, principal, "removed connection \(connectionId.lowercasedString)", now().truncatedToMilliseconds))
        } catch StoreError.environmentNotFound {
            throw EngineError.environmentNotFound(id)
        } catch StoreError.notFound {
            throw EngineError.notMember(connectionId, environment: id)
        }
    }

    /// Shares the environment with the user called `userName`, or stops sharing it: its
    /// connections become visible to them to read and transition.
    public func share(_ id: UUID, with userName: String, _ shared: Bool, by principal: Principal) async throws {
        guard let user = try await store.user(named: userName) else {
            throw EngineError.invalid(field: "userName", detail: "there is no user named '\(userName)'")
        }
        do {
            try await store.share(id, with: user.id, shared, audit: audit(
                id, .updated, principal, "\(shared ? "shared with" : "no longer shared with") \(user.name)",
                now().truncatedToMilliseconds))
        } catch StoreError.environmentNotFound {
            throw EngineError.environmentNotFound(id)
        }
    }

    public func sharedUsers(_ id: UUID) async throws -> [String] {
        try await store.sharedUsers(of: id)
    }

    public func history(_ id: UUID) async throws -> [AuditEvent] {
        try await store.auditEvents(subjectId: id)
    }

    private func audit(_ id: UUID, _ action: AuditEvent.Action, _ principal: Principal, _ detail: String?,
                       _ at: Date) -> AuditEvent {
        AuditEvent(of: "environment", id, action, by: principal, detail: detail, at: at)
    }
}
