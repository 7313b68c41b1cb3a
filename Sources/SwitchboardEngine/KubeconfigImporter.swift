import ConnectionLifecycle
import Foundation
import SwitchboardDrivers
import StoreContract

/// What happened to one context of an imported kubeconfig. Every context of the file gets
/// one, so none is dropped silently.
public struct ContextImportResult: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable {
        case created
        /// Created and moved on to `connected` (`connectReachable`).
        case connected
        case known = "already known"
        case updated
        case rediscovered
        /// An admin ignored it; left alone.
        case ignored
        /// Not among `selectedContexts`.
        case skipped
        /// Cannot become a connection (unsupported auth, missing cluster…); `detail` says why.
        case failed
    }

    public var context: String
    public var cluster: String?
    public var user: String?
    public var server: String?
    public var outcome: Outcome
    public var connection: Connection?
    /// Whether the API server answered with the context's credentials (`nil`: not checked).
    public var reachable: Bool?
    public var detail: String?
}

/// Turns kubeconfigs into Kubernetes connections, one per context, through discovery: a
/// known cluster and user is found again by fingerprint instead of duplicated, and the
/// context's cluster and user become the connection's credential.
public struct KubeconfigImporter: Sendable {
    public let engine: ConnectionEngine
    let credentials: StoredCredentials
    /// More contexts than this in one file is a mistake (or an attack), not a kubeconfig.
    public static let maxContexts = 256

    public init(engine: ConnectionEngine, credentials: StoredCredentials) {
        self.engine = engine
        self.credentials = credentials
    }

    /// Imports `text`. `selectedContexts` limits the import (others are reported as
    /// skipped); `connectReachable` moves reachable new contexts on to `connected` by
    /// `principal`. Throws only when the text is not a kubeconfig or has too many contexts.
    public func importKubeconfig(_ text: String, origin: KubeconfigOrigin, selectedContexts: Set<String>? = nil,
                                 connectReachable: Bool = false, owner: UUID? = nil, by principal: Principal,
                                 source: String = "kubeconfig import") async throws -> [ContextImportResult] {
        let correlationId = UUID()
        return try await each(try contexts(text, origin), selectedContexts: selectedContexts) { prepared, secret, fingerprint, server in
            var result = ContextImportResult(prepared, outcome: .failed)
            // Names as the file gives them (for people); the namespace is a context's default,
            // not part of what the connection points at, so it is left out.
            var metadata: [String: JSONValue] = ["context": .string(prepared.context)]
            if let cluster = prepared.cluster { metadata["cluster"] = .string(cluster) }
            if let user = prepared.user { metadata["user"] = .string(user) }
            let found = Discovery(
                connection: NewConnection(name: prepared.context, url: server, kind: "kubernetes", owner: owner,
                                          metadata: metadata),
                secret: secret, fingerprint: fingerprint, source: source, by: principal)
            do {
                let discovered = try await engine.discover(found, register: connectReachable ? true : nil,
                                                           correlationId: correlationId)
                result.connection = discovered.connection
                result.reachable = discovered.reachable
                result.detail = discovered.problem
                result.outcome = ContextImportResult.Outcome(discovered.outcome)
                if connectReachable, discovered.outcome == .created, discovered.connection.status == .registered {
                    do {
                        result.connection = try await engine.transition(
                            discovered.connection.id, to: .connected, by: principal,
                            reason: "connected by \(source) (connectReachable)", correlationId: correlationId)
                        result.outcome = .connected
                    } catch let error as EngineError {
                        result.connection = try? await engine.connection(id: discovered.connection.id)
                        result.detail = "created, but not connected: \(error)"
                    }
                }
            } catch {
                result.detail = "\(error)"
            }
            return result
        }
    }

    /// Parses `text` and checks each context's reachability with its own credentials,
    /// storing nothing. `already known` names the owner's connection to the same target.
    /// `selectedContexts` limits it as it limits the import: others are `skipped`, unchecked.
    public func preview(_ text: String, origin: KubeconfigOrigin, selectedContexts: Set<String>? = nil,
                        owner: UUID? = nil) async throws -> [ContextImportResult] {
        let driver = engine.drivers.driver(for: "kubernetes")
        return try await each(try contexts(text, origin), selectedContexts: selectedContexts) { prepared, secret, fingerprint, server in
            var result = ContextImportResult(prepared, outcome: .created)  // What an import would do.
            let credentialId = UUID()
            let transient = Connection(name: prepared.context, url: server, kind: "kubernetes", type: "platform",
                                       subType: "orchestration", status: .discovered, credentialId: credentialId,
                                       createdAt: Date(), updatedAt: Date())
            let check = await credentials.withPending(credentialId, secret) { await driver.verify(transient) }
            if let known = try? await engine.store.liveConnection(owner: owner, fingerprint: fingerprint) {
                result.connection = known
                result.outcome = .known
            }
            result.reachable = check.isReachable
            result.detail = check.error
            return result
        }
    }

    private func contexts(_ text: String, _ origin: KubeconfigOrigin) throws -> [KubeconfigContextImport] {
        let contexts = try KubeconfigImport.contexts(in: text, origin: origin)
        guard contexts.count <= Self.maxContexts else {
            throw EngineError.invalid(field: "k8sfile", detail: "the kubeconfig has \(contexts.count) contexts; at most \(Self.maxContexts) are imported at once")
        }
        return contexts
    }

    /// Runs `body` for each importable context, a few at a time. Contexts that cannot be
    /// imported, are not selected, or name the same cluster and user as an earlier context
    /// of the file (one connection each) get their result without running it.
    private func each(
        _ contexts: [KubeconfigContextImport], selectedContexts: Set<String>?,
        _ body: @escaping @Sendable (KubeconfigContextImport, SecretValues, String, String) async -> ContextImportResult
    ) async throws -> [ContextImportResult] {
        var firstByFingerprint: [String: Int] = [:]
        var runs: [Int] = []
        for (index, prepared) in contexts.enumerated() where selectedContexts?.contains(prepared.context) ?? true {
            guard let fingerprint = prepared.fingerprint, prepared.secret != nil else { continue }
            if firstByFingerprint[fingerprint] == nil {
                firstByFingerprint[fingerprint] = index
                runs.append(index)
            }
        }
        let ran = await BoundedConcurrency.map(runs) { index -> ContextImportResult in
            let prepared = contexts[index]
            guard let secret = prepared.secret, let fingerprint = prepared.fingerprint, let server = prepared.server else {
                return ContextImportResult(prepared, outcome: .failed)
            }
            return await body(prepared, secret, fingerprint, server)
        }
        let byIndex = Dictionary(uniqueKeysWithValues: zip(runs, ran))
        return contexts.enumerated().map { index, prepared in
            if let result = byIndex[index] { return result }
            if let selectedContexts, !selectedContexts.contains(prepared.context) {
                return ContextImportResult(prepared, outcome: .skipped)
            }
            guard let fingerprint = prepared.fingerprint, let first = firstByFingerprint[fingerprint],
                  let same = byIndex[first] else {
                var failed = ContextImportResult(prepared, outcome: .failed)
                failed.detail = prepared.problem
                return failed
            }
            var duplicate = ContextImportResult(prepared, outcome: .known)
            duplicate.connection = same.connection
            duplicate.reachable = same.reachable
            duplicate.detail = "the same cluster and user as context '\(contexts[first].context)', which stands for both"
            return duplicate
        }
    }
}

extension ContextImportResult {
    init(_ prepared: KubeconfigContextImport, outcome: Outcome) {
        self.init(context: prepared.context, cluster: prepared.cluster, user: prepared.user, server: prepared.server,
                  outcome: outcome)
    }
}

extension ContextImportResult.Outcome {
    init(_ outcome: DiscoveryResult.Outcome) {
        self = switch outcome {
        case .created: .created
        case .known: .known
        case .updated: .updated
        case .rediscovered: .rediscovered
        case .ignored: .ignored
        }
    }
}
