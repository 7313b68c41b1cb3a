import ConnectionLifecycle
import Foundation
import Hummingbird
import SwitchboardEngine
import StoreContract

/// Connections as every answer shows them: with the health and environments a `GET` shows,
/// read in one batch per answer, so a create, a `PUT`, a transition or a list never answers
/// `unknown` health or no environments for a connection that has them.
enum ConnectionResources {
    /// One connection, written.
    static func one(_ connection: Connection, engine: ConnectionEngine) async throws -> JSONWriter {
        var writer = JSONWriter()
        try await many([connection], engine: engine)[0].write(to: &writer)
        return writer
    }

    /// Several connections, in the order given.
    static func many(_ connections: [Connection], engine: ConnectionEngine,
                     omit: ListOmissions = ListOmissions()) async throws -> [ConnectionResource] {
        let ids = connections.map(\.id)
        let health = try await engine.health(of: ids)
        let memberships = try await engine.environments(ofConnections: ids)
        return connections.map {
            var resource = ConnectionResource($0, kind: engine.kind(of: $0), health: health[$0.id],
                                              environments: memberships[$0.id] ?? [])
            resource.writesTransitionMap = !omit.transitionMap
            return resource
        }
    }

    /// A list page (Meshery's `ConnectionPage`), written.
    static func page(_ listing: ConnectionListing, page: Int, pageSize: Int, omit: ListOmissions,
                     engine: ConnectionEngine) async throws -> JSONWriter {
        let connections = try await many(listing.connections, engine: engine, omit: omit)
        var writer = JSONWriter(capacity: (omit.transitionMap ? 1_000 : 3_600) * connections.count + 256)
        ConnectionPageResource(
            connections: connections, totalCount: listing.totalCount, page: page, pageSize: pageSize,
            statusSummary: Dictionary(uniqueKeysWithValues: listing.statusSummary.map { ($0.key.wireName, $0.value) })
        ).write(to: &writer)
        return writer
    }
}

/// What a list leaves out of each connection: `omit=transitionMap` (repeatable or
/// comma-separated). Meshery's clients never send it, so they get Meshery's full shape; a
/// client that draws its own moves (or none) saves about 2.5 KB a connection.
struct ListOmissions: Sendable, Equatable {
    /// Members that may be left out.
    static let omittable = ["transitionMap"]

    var transitionMap = false

    init() {}

    init(_ parameters: Parameters) throws {
        for value in try QueryValue.filter(parameters, "omit") {
            let name = value.trimmingCharacters(in: .whitespaces)
            if name.isEmpty { continue }
            guard Self.omittable.contains(name) else {
                throw Problem.badRequest("omit '\(value)' is not a member a list can leave out; use \(Self.omittable.joined(separator: ", "))",
                                         field: "omit")
            }
            transitionMap = true
        }
    }
}
