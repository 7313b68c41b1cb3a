import ConnectionLifecycle
import Foundation
import PostgresNIO
import StoreContract

extension PostgresConnectionStore {
    public func connection(id: UUID) async throws -> Connection? {
        try await read { db in try await db.rows("SELECT * FROM connections WHERE id = \(id)").first.map(PostgresRows.connection) }
    }

    public func connections(ids: [UUID]) async throws -> [UUID: Connection] {
        guard !ids.isEmpty else { return [:] }
        return try await read { db in
            var found: [UUID: Connection] = [:]
            for row in try await db.rows("SELECT * FROM connections WHERE id = ANY(\(ids))") {
                let connection = try PostgresRows.connection(row)
                found[connection.id] = connection
            }
            return found
        }
    }

    public func connectionDetails(id: UUID) async throws -> ConnectionDetails? {
        try await read { db in
            guard let row = try await db.rows("SELECT * FROM connections WHERE id = \(id)").first else { return nil }
            let health = try await db.rows("SELECT * FROM connection_health WHERE connection_id = \(id)").first
                .map(PostgresRows.health)
            let environments = try await db.rows("""
                SELECT e.* FROM environment_connections ec JOIN environments e ON e.id = ec.environment_id
                WHERE ec.connection_id = \(id) ORDER BY e.id
                """).map(PostgresRows.environment)
            return ConnectionDetails(connection: try PostgresRows.connection(row), health: health, environments: environments)
        }
    }

    /// One statement: the matches are found once, then both paged and counted by status (two
    /// statements scanned them twice: at 100,000 connections that was most of a list's time).
    /// The page is joined to one row, so the counts come back even when the page is empty.
    public func list(_ query: ConnectionQuery) async throws -> ConnectionListing {
        var sql = SQLBuilder()
        sql.append("WITH matches AS MATERIALIZED (SELECT * FROM connections")
        PostgresConnectionFilter.appendWhere(query, to: &sql)
        sql.append("""
            ) SELECT (SELECT json_object_agg(status, n)::text FROM (SELECT status, count(*) AS n FROM matches GROUP BY status) s)
                AS status_summary, page.*
            FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT * FROM matches
            """)
        sql.append(PostgresConnectionFilter.orderClause(query.order))
        sql.append(" LIMIT \(sql.bind(query.pageSize)) OFFSET \(sql.bind(query.page * query.pageSize))) page ON true")
        let statement = sql.query
        return try await read { db in
            let rows = try await db.rows(statement)
            var counts: [ConnectionStatus: Int] = [:]
            if let summary = try rows.first?.makeRandomAccess()["status_summary"].decode(String?.self) {
                for (status, count) in try JSONDecoder().decode([String: Int].self, from: Data(summary.utf8)) {
                    if let status = ConnectionStatus(rawValue: status) { counts[status] = count }
                }
            }
            // An empty page is the one row of nulls.
            let connections = try rows.filter { try $0.makeRandomAccess()["id"].decode(UUID?.self) != nil }
                .map(PostgresRows.connection)
            return ConnectionListing(connections: connections, totalCount: counts.values.reduce(0, +), statusSummary: counts)
        }
    }

    public func liveConnection(owner: UUID?, fingerprint: String) async throws -> Connection? {
        try await read { db in try await Self.liveConnection(owner: owner, fingerprint: fingerprint, db) }
    }

    static func liveConnection(owner: UUID?, fingerprint: String, _ db: PostgresConnection) async throws -> Connection? {
        try await db.rows("""
            SELECT * FROM connections
            WHERE coalesce(owner, '00000000-0000-0000-0000-000000000000'::uuid)
                = coalesce(\(owner)::uuid, '00000000-0000-0000-0000-000000000000'::uuid)
            AND fingerprint = \(fingerprint) AND status <> 'deleted'
            """).first.map(PostgresRows.connection)
    }

    public func latestConnection(owner: UUID?, fingerprint: String) async throws -> Connection? {
        try await read { db in
            if let live = try await Self.liveConnection(owner: owner, fingerprint: fingerprint, db) { return live }
            return try await db.rows("""
                SELECT * FROM connections WHERE owner IS NOT DISTINCT FROM \(owner)::uuid AND fingerprint = \(fingerprint)
                AND status = 'deleted' ORDER BY updated_at DESC LIMIT 1
                """).first.map(PostgresRows.connection)
        }
    }

    public func children(of parentId: UUID) async throws -> [Connection] {
        try await read { db in
            try await db.rows("SELECT * FROM connections WHERE parent_id = \(parentId) AND status <> 'deleted' ORDER BY id")
                .map(PostgresRows.connection)
        }
    }

    public func deletedParentsWithLiveChildren() async throws -> [UUID] {
        try await read { db in
            try await db.rows("""
                SELECT DISTINCT parent.id FROM connections child JOIN connections parent ON parent.id = child.parent_id
                WHERE parent.status = 'deleted' AND child.status <> 'deleted' ORDER BY parent.id
                """).map { try $0.decode(UUID.self) }
        }
    }

    public func connectionsWithoutFingerprint(after afterId: UUID?, limit: Int) async throws -> [Connection] {
        try await read { db in
            try await db.rows("""
                SELECT * FROM connections WHERE fingerprint IS NULL AND status <> 'deleted'
                AND (\(afterId)::uuid IS NULL OR id > \(afterId)::uuid) ORDER BY id LIMIT \(limit)
                """).map(PostgresRows.connection)
        }
    }

    public func probeCandidates(after afterId: UUID?, limit: Int) async throws -> [Connection] {
        try await read { db in
            try await db.rows("""
                SELECT * FROM connections WHERE status IN ('registered', 'connected', 'disconnected')
                AND (\(afterId)::uuid IS NULL OR id > \(afterId)::uuid) ORDER BY id LIMIT \(limit)
                """).map(PostgresRows.connection)
        }
    }

    public func countsByKindAndStatus() async throws -> [KindStatusCount] {
        try await read { db in
            try await db.rows("SELECT kind, status, count(*) FROM connections WHERE status <> 'deleted' GROUP BY kind, status")
                .compactMap { row in
                    let (kind, status, count) = try row.decode((String, String, Int64).self)
                    return ConnectionStatus(rawValue: status).map { KindStatusCount(kind: kind, status: $0, count: Int(count)) }
                }
        }
    }
}
