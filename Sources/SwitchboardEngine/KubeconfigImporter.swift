import ConnectionLifecycle
import Foundation
import SwitchboardDrivers
import SwitchboardStorage

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
    let engine: ConnectionEngine
    let credentials: StoredCredentials

    public init(engine: ConnectionEngine, credentials: StoredCredentials) {
        self.engine = engine
        self.credentials = credentials
    }

    /// Imports `text`. `selectedContexts` limits the import (others are reported as
    /// skipped); `connectReachable` moves reachable new contexts on to `connected` by
    /// `principal`. Throws only when the text is not a kubeconfig.
    public func importKubeconfig(_ text: String, origin: KubeconfigOrigin, selectedContexts: Set<String>? = nil,
                                 connectReachable: Bool = false, owner: UUID? = nil, by principal: Principal,
                                 source: String = "kubeconfig import") async throws -> [ContextImportResult] {
        let contexts = try KubeconfigImport.contexts(in: text, origin: origin)
        let correlationId = UUID()
        return await inParallel(contexts) { prepared in
            var result = ContextImportResult(context: prepared.context, cluster: prepared.cluster, user: prepared.user,
                                             server: prepared.server, outcome: .failed)
            if let selectedContexts, !selectedContexts.contains(prepared.context) {
                result.outcome = .skipped
                return result
            }
            guard let secret = prepared.secret, let fingerprint = prepared.fingerprint, let server = prepared.server else {
                result.detail = prepared.problem
                return result
            }
            var metadata: [String: JSONValue] = ["context": .string(prepared.context), "discoveredBy": .string(source)]
            if let cluster = prepared.cluster { metadata["cluster"] = .string(cluster) }
            if let user = prepared.user { metadata["user"] = .string(user) }
            if let namespace = prepared.namespace { metadata["namespace"] = .string(namespace) }
            let found = Discovery(
                connection: NewConnection(name: prepared.context, url: server, kind: "kubernetes", owner: owner,
                                          metadata: metadata),
                secret: secret, fingerprint: fingerprint, source: source)
            do {
                let discovered = try await engine.discover(found, register: connectReachable ? true : nil,
                                                           correlationId: correlationId)
                result.connection = discovered.connection
                result.reachable = discovered.reachable
                result.detail = discovered.problem
                result.outcome = switch discovered.outcome {
                case .created: .created
                case .known: .known
                case .updated: .updated
                case .rediscovered: .rediscovered
                case .ignored: .ignored
                }
                if connectReachable, discovered.outcome == .created, discovered.connection.status == .registered {
                    result.connection = try await engine.transition(
                        discovered.connection.id, to: .connected, by: principal,
                        reason: "connected by \(source) (connectReachable)", correlationId: correlationId)
                    result.outcome = .connected
                }
            } catch {
                result.detail = "\(error)"
            }
            return result
        }
    }

    /// Parses `text` and checks each context's reachability with its own credentials,
    /// storing nothing.
    public func preview(_ text: String, origin: KubeconfigOrigin) async throws -> [ContextImportResult] {
        let contexts = try KubeconfigImport.contexts(in: text, origin: origin)
        let driver = engine.drivers.driver(for: "kubernetes")
        return await inParallel(contexts) { prepared in
            var result = ContextImportResult(context: prepared.context, cluster: prepared.cluster, user: prepared.user,
                                             server: prepared.server, outcome: .failed, detail: prepared.problem)
            guard let secret = prepared.secret, let server = prepared.server else { return result }
            let transient = Connection(name: prepared.context, url: server, kind: "kubernetes", type: "platform",
                                       subType: "orchestration", status: .discovered, credentialId: UUID(),
                                       createdAt: Date(), updatedAt: Date())
            let check = await credentials.withPending(transient.credentialId ?? UUID(), secret) {
                await driver.verify(transient)
            }
            if let fingerprint = prepared.fingerprint,
               let known = try? await engine.store.liveConnection(owner: nil, fingerprint: fingerprint) {
                result.connection = known
                result.outcome = .known
            } else {
                result.outcome = .created  // What an import would do.
            }
            result.reachable = check.isReachable
            result.detail = check.error
            return result
        }
    }

    /// Runs `body` for every element concurrently, keeping the order.
    private func inParallel<Element: Sendable, Result: Sendable>(
        _ elements: [Element], _ body: @escaping @Sendable (Element) async -> Result
    ) async -> [Result] {
        await withTaskGroup(of: (Int, Result).self) { group in
            for (index, element) in elements.enumerated() {
                group.addTask { (index, await body(element)) }
            }
            var results: [(Int, Result)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
