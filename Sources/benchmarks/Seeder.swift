import ConnectionLifecycle
import Foundation
import StoreBackends
import StoreContract
import SwitchboardTestSupport

/// Writes connections straight into a data folder's SQLite file (as a server would have
/// stored them, fingerprints included), so a benchmark starts from a large store in seconds.
enum Seeder {
    static let kinds = ["kubernetes", "prometheus", "grafana", "helm", "http"].compactMap { KindCatalog.builtIn[$0] }

    /// `count` connections; `shape(index)` picks each one's kind, status and url.
    @discardableResult
    static func seed(_ dataDirectory: String, count: Int,
                     shape: (Int) -> (kind: ConnectionKind, status: ConnectionStatus, url: String)) async throws -> [UUID] {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let store = try StoreBackends.open(.sqlite(path: dataDirectory + "/switchboard.sqlite"))
        let start = Date(timeIntervalSince1970: 1_750_000_000)
        return try await Seeding.many(in: store, count: count) { index in
            let (kind, status, url) = shape(index)
            let at = start.addingTimeInterval(Double(index) / 1000)
            return Connection(
                name: "conn-\(index * 7919 % max(count, 1))", url: url, kind: kind.name, type: kind.type,
                subType: kind.subType, status: status, fingerprint: Fingerprint.of(kind: kind.name, url: url),
                createdAt: at, updatedAt: at, deletedAt: status == .deleted ? at : nil)
        }
    }

    /// A mix of every kind and status that points nowhere reachable (nothing is monitored:
    /// statuses that would be are spread over the unmonitored ones).
    static func quietMix(_ index: Int) -> (kind: ConnectionKind, status: ConnectionStatus, url: String) {
        let quiet: [ConnectionStatus] = [.discovered, .ignored, .maintenance, .notFound, .deleted]
        let kind = kinds[index % kinds.count]
        return (kind, quiet[(index / kinds.count) % quiet.count], "http://127.0.0.1:9/target-\(index)")
    }

    /// How many connections every size of store holds that list-scaling's filter matches.
    static let listAnswer = 300

    /// `quietMix`, except that the first `listAnswer` connections are Prometheus instances in
    /// maintenance whose url holds "edge": list-scaling's filter matches them (and nothing else)
    /// at every size, so each size answers the same full pages from a larger store. Their names
    /// are spread through the name order like everyone else's.
    static func listMix(_ index: Int) -> (kind: ConnectionKind, status: ConnectionStatus, url: String) {
        guard index < listAnswer, let prometheus = KindCatalog.builtIn["prometheus"] else { return quietMix(index) }
        return (prometheus, .maintenance, "http://127.0.0.1:9/edge-\(index)")
    }
}
