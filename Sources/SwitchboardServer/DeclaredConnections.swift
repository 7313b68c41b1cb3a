import ConnectionLifecycle
import Foundation
import Logging
import ServiceLifecycle
import SwitchboardDrivers
import SwitchboardEngine
import UnixSignals
import Yams

/// A connections file an operator keeps (`--connections-file`): YAML, a list under
/// `connections:` of
///
/// ```yaml
/// connections:
///   - kind: prometheus
///     name: Production Prometheus
///     url: https://prometheus.example:9090
///     metadata: { bearerTokenFile: /etc/switchboard/prometheus-token }
///   - kind: kubernetes
///     name: prod
///     kubeconfig: /etc/switchboard/prod.kubeconfig   # its cluster and user become the credential
///     context: prod-admin                            # default: the current context
/// ```
///
/// Each entry goes through discovery: created `discovered` when new, found again by
/// fingerprint otherwise. Removing an entry from the file removes nothing.
public struct DeclaredConnectionsFile: Sendable, Hashable {
    public struct Entry: Sendable, Hashable, Decodable {
        public var kind: String
        public var name: String
        public var url: String?
        public var description: String?
        public var metadata: [String: JSONValue]?
        public var credentialId: UUID?
        public var kubeconfig: String?
        public var context: String?
    }

    private struct Document: Decodable { var connections: [Entry]? }

    public var entries: [Entry]

    /// The decoder's complaint, without quoting the file (it may hold secrets).
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as YamlError: Kubeconfig.describe(error)
        case DecodingError.keyNotFound(let key, let context):
            "entry \(context.codingPath.map(\.stringValue).joined(separator: ".")) lacks \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
             DecodingError.dataCorrupted(let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type or value"
        default: "unreadable"
        }
    }

    public static func parse(_ yaml: String) throws -> DeclaredConnectionsFile {
        do {
            return DeclaredConnectionsFile(entries: try YAMLDecoder().decode(Document.self, from: yaml).connections ?? [])
        } catch {
            throw EngineError.invalid(field: "connections file", detail: "not valid YAML of connections: \(Self.describe(error))")
        }
    }
}

/// The outcome of one declared entry, for the log.
public struct DeclaredEntryResult: Sendable, Hashable {
    public var name: String
    public var outcome: String
    public var connectionId: UUID?
}

/// Loads a declared-connections file at start and again on every SIGHUP.
public struct DeclaredConnectionsLoader: Service {
    let path: String
    let engine: ConnectionEngine
    let logger: Logger

    public init(path: String, engine: ConnectionEngine, logger: Logger) {
        self.path = path
        self.engine = engine
        self.logger = logger
    }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await loadExclusively()
        for await _ in hangups.cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading the connections file", metadata: ["file": "\(path)"])
            await loadExclusively()
        }
    }

    /// One replica loads at a time; a second load finds each entry already there (discovery
    /// matches by fingerprint), so every replica may be given the same file.
    private func loadExclusively() async {
        do {
            _ = try await engine.exclusively("declared-connections") { await self.load() }
        } catch {
            logger.error("cannot load the connections file", metadata: ["file": "\(path)", "error": "\(error)"])
        }
    }

    /// Reads the file and discovers each entry; problems are logged per entry, never fatal.
    @discardableResult
    public func load() async -> [DeclaredEntryResult] {
        let file: DeclaredConnectionsFile
        do {
            file = try DeclaredConnectionsFile.parse(try String(contentsOfFile: path, encoding: .utf8))
        } catch {
            logger.error("cannot load the connections file", metadata: ["file": "\(path)", "error": "\(error)"])
            return []
        }
        var results: [DeclaredEntryResult] = []
        for entry in file.entries {
            var result = DeclaredEntryResult(name: entry.name, outcome: "failed")
            do {
                let found = try discovery(for: entry)
                let discovered = try await engine.discover(found)
                result.outcome = discovered.outcome.rawValue
                result.connectionId = discovered.connection.id
            } catch {
                result.outcome = "failed: \(error)"
            }
            logger.info("declared connection", metadata: [
                "name": "\(entry.name)", "outcome": "\(result.outcome)",
                "connection": "\(result.connectionId?.lowercasedString ?? "-")",
            ])
            results.append(result)
        }
        return results
    }

    private func discovery(for entry: DeclaredConnectionsFile.Entry) throws -> Discovery {
        let source = "connections file"
        var new = NewConnection(name: entry.name, description: entry.description, url: entry.url, kind: entry.kind,
                                credentialId: entry.credentialId, metadata: entry.metadata ?? [:])
        guard let kubeconfig = entry.kubeconfig else { return Discovery(connection: new, source: source) }
        // Relative to the connections file, as kubectl reads paths relative to a kubeconfig.
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let kubeconfigPath = kubeconfig.hasPrefix("/") ? kubeconfig : base + "/" + kubeconfig
        let text = try String(contentsOfFile: kubeconfigPath, encoding: .utf8)
        let contexts = try KubeconfigImport.contexts(
            in: text, origin: .operatorFile(directory: URL(fileURLWithPath: kubeconfigPath).deletingLastPathComponent().path))
        let wanted = entry.context ?? (try? Kubeconfig.parse(text).currentContext) ?? contexts.first?.context
        guard let prepared = contexts.first(where: { $0.context == wanted }) else {
            throw EngineError.invalid(field: "context", detail: "\(kubeconfigPath) has no context '\(wanted ?? "")'")
        }
        guard let secret = prepared.secret, let fingerprint = prepared.fingerprint else {
            throw EngineError.invalid(field: "kubeconfig", detail: prepared.problem ?? "context '\(prepared.context)' cannot be imported")
        }
        new.url = new.url ?? prepared.server
        new.metadata["context"] = .string(prepared.context)
        return Discovery(connection: new, secret: secret, fingerprint: fingerprint, source: source)
    }
}
