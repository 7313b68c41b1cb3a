import ConnectionLifecycle
import Foundation
import StoreContract
import GRDB

/// The SQLite schema, as versioned migrations. Never edit a shipped migration: add one.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: connections and events") { db in
            try db.execute(sql: """
                CREATE TABLE connections (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    description TEXT,
                    url TEXT,
                    kind TEXT NOT NULL,
                    type TEXT NOT NULL,
                    sub_type TEXT NOT NULL,
                    status TEXT NOT NULL,
                    credential_id TEXT,
                    owner TEXT,
                    metadata TEXT NOT NULL DEFAULT '{}',
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    deleted_at INTEGER,
                    version INTEGER NOT NULL,
                    status_changed_by TEXT NOT NULL
                );
                -- Lists filter by status (always: tombstones are excluded unless asked for), often by
                -- kind, and page in name or update order; id breaks ties.
                CREATE INDEX connections_by_name ON connections (name, id);
                CREATE INDEX connections_by_update ON connections (updated_at, id);
                CREATE INDEX connections_by_status_name ON connections (status, name, id);
                CREATE INDEX connections_by_status_update ON connections (status, updated_at, id);
                CREATE INDEX connections_by_kind_status_name ON connections (kind, status, name, id);
                CREATE INDEX connections_by_kind_status_update ON connections (kind, status, updated_at, id);

                CREATE TABLE events (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    connection_id TEXT NOT NULL REFERENCES connections (id),
                    from_status TEXT,
                    to_status TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    actor_role TEXT NOT NULL,
                    reason TEXT,
                    correlation_id TEXT NOT NULL,
                    at INTEGER NOT NULL
                );
                CREATE INDEX events_by_connection ON events (connection_id, sequence);
                -- The log is append-only: the database refuses edits and deletions.
                CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
                BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
                CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
                BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
                """)
        }
        migrator.registerMigration("v2: health and collected data") { db in
            try db.execute(sql: """
                -- Written by probes only, one row per connection: observed health is not status.
                CREATE TABLE connection_health (
                    connection_id TEXT PRIMARY KEY NOT NULL REFERENCES connections (id),
                    state TEXT NOT NULL,
                    checked_at INTEGER,
                    latency_ms REAL,
                    last_error TEXT,
                    consecutive_successes INTEGER NOT NULL DEFAULT 0,
                    consecutive_failures INTEGER NOT NULL DEFAULT 0
                );
                -- What sessions collect (inventory, query results, chart lists), by key.
                CREATE TABLE collected_data (
                    connection_id TEXT NOT NULL REFERENCES connections (id),
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    collected_at INTEGER NOT NULL,
                    PRIMARY KEY (connection_id, key)
                );
                """)
        }
        migrator.registerMigration("v3: fingerprints and credentials") { db in
            try db.execute(sql: """
                -- What a connection points at; one live connection per owner and fingerprint.
                ALTER TABLE connections ADD COLUMN fingerprint TEXT;
                CREATE UNIQUE INDEX connections_live_fingerprint ON connections (coalesce(owner, ''), fingerprint)
                    WHERE fingerprint IS NOT NULL AND status <> 'deleted';
                -- Secrets are AES-GCM ciphertext (nonce, ciphertext, tag), never plain text.
                CREATE TABLE credentials (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    type TEXT NOT NULL,
                    owner TEXT,
                    key_id TEXT NOT NULL,
                    secret BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX connections_by_credential ON connections (credential_id) WHERE credential_id IS NOT NULL;
                """)
        }
        migrator.registerMigration("v4: audit log") { db in
            try db.execute(sql: """
                -- Changes to credentials and environments: who, what, when; never a secret.
                CREATE TABLE audit_events (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    subject_type TEXT NOT NULL,
                    subject_id TEXT NOT NULL,
                    action TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    actor_role TEXT NOT NULL,
                    detail TEXT,
                    correlation_id TEXT NOT NULL,
                    at INTEGER NOT NULL
                );
                CREATE INDEX audit_events_by_subject ON audit_events (subject_id, sequence);
                CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE INDEX credentials_by_name ON credentials (name, id);
                -- Made for a connection (removed with its last user) or on its own (kept).
                ALTER TABLE credentials ADD COLUMN owned_by_connection INTEGER NOT NULL DEFAULT 1;
                """)
        }
        migrator.registerMigration("v5: environments") { db in
            try db.execute(sql: """
                CREATE TABLE environments (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    description TEXT,
                    owner TEXT,
                    metadata TEXT NOT NULL DEFAULT '{}',
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX environments_by_name ON environments (name, id);
                -- A connection may belong to several environments; an environment never owns one.
                CREATE TABLE environment_connections (
                    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
                    connection_id TEXT NOT NULL REFERENCES connections (id),
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (environment_id, connection_id)
                );
                CREATE INDEX environment_connections_by_connection ON environment_connections (connection_id, environment_id);
                """)
        }
        migrator.registerMigration("v6: users and tokens") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    role TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                -- Only a token's SHA-256 is kept: the token itself is shown once.
                CREATE TABLE api_tokens (
                    id TEXT PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL REFERENCES users (id),
                    name TEXT,
                    hash TEXT NOT NULL UNIQUE,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER,
                    revoked_at INTEGER
                );
                """)
        }
        migrator.registerMigration("v7: environment shares") { db in
            try db.execute(sql: """
                -- An admin shares an environment with a member: its connections become visible
                -- to them (read and transition, not change or delete).
                CREATE TABLE environment_shares (
                    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
                    user_id TEXT NOT NULL REFERENCES users (id),
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (environment_id, user_id)
                );
                CREATE INDEX environment_shares_by_user ON environment_shares (user_id, environment_id);
                """)
        }
        migrator.registerMigration("v8: start-up scans") { db in
            try db.execute(sql: """
                -- What every start reads: the connections the monitor checks, and rows from
                -- before fingerprints. Partial indexes hold only those rows, so a start does
                -- not walk every connection to find the few it wants.
                CREATE INDEX connections_probed ON connections (id)
                    WHERE status IN ('registered', 'connected', 'disconnected');
                CREATE INDEX connections_without_fingerprint ON connections (id)
                    WHERE fingerprint IS NULL AND status <> 'deleted';
                """)
        }
        migrator.registerMigration("v9: list indexes that cover a search") { db in
            try db.execute(sql: """
                -- A list's search (name or url contains the text) and its counts by status are
                -- answered from the index alone: at 100k connections, fetching every candidate
                -- row to test its url was most of a filtered page's time. Same order as before,
                -- with the searched columns carried along.
                DROP INDEX connections_by_status_name;
                DROP INDEX connections_by_status_update;
                DROP INDEX connections_by_kind_status_name;
                DROP INDEX connections_by_kind_status_update;
                CREATE INDEX connections_by_status_name ON connections (status, name, id, url, kind);
                CREATE INDEX connections_by_status_update ON connections (status, updated_at, id, name, url, kind);
                CREATE INDEX connections_by_kind_status_name ON connections (kind, status, name, id, url);
                CREATE INDEX connections_by_kind_status_update ON connections (kind, status, updated_at, id, name, url);
                """)
        }
        migrator.registerMigration("v10: children by parent") { db in
            try db.execute(sql: """
                -- Every deletion looks for the deleted connection's children: without this index
                -- that was a scan of every row's metadata (about 30 ms at 100k connections, so
                -- a bulk delete of 1,000 took half a minute). Only children are indexed.
                CREATE INDEX connections_by_parent ON connections (json_extract(metadata, '$.parentConnectionId'))
                    WHERE json_extract(metadata, '$.parentConnectionId') IS NOT NULL;
                """)
        }
        migrator.registerMigration("v11: store probe") { db in
            try db.execute(sql: """
                -- One row /readyz and every start rewrite: proves the file takes a write.
                CREATE TABLE store_probe (
                    id INTEGER PRIMARY KEY NOT NULL,
                    written_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v12: members' intervals at their floor") { db in
            // Every way in now refuses a member's probe or session interval under the floor
            // (issue 14: one member's 0.05 s made 975 probes in 10 s); the monitor and the
            // drivers use stored settings as they are, so rows stored before are raised to it,
            // each with a system event saying so.
            let correlationId = UUID().uuidString.lowercased()
            let at = Date().storageMilliseconds
            for setting in ConnectionSettings.all {
                guard let floor = setting.memberMinimum else { continue }
                let path = "$.\"\(setting.key)\""
                let below = """
                    owner IN (SELECT id FROM users WHERE role != 'admin')
                    AND json_type(metadata, ?) IN ('integer', 'real') AND json_extract(metadata, ?) < ?
                    """
                try db.execute(sql: """
                    INSERT INTO events (connection_id, from_status, to_status, actor, actor_role, reason, correlation_id, at)
                    SELECT id, status, status, 'system', 'system', ?, ?, ? FROM connections WHERE \(below)
                    """, arguments: ["raised metadata.\(setting.key) to \(Int(floor)) s, the least a member may set",
                                     correlationId, at, path, path, floor])
                try db.execute(sql: """
                    UPDATE connections SET metadata = json_set(metadata, ?, ?), version = version + 1, updated_at = ?
                    WHERE \(below)
                    """, arguments: [path, floor, at, path, path, floor])
            }
        }
        migrator.registerMigration("v13: server identity") { db in
            try db.execute(sql: """
                -- This server's stable id (issue 16): made on the first start, then never changed.
                -- One row at most; a backup carries it, so a restored server is the same server.
                CREATE TABLE server_identity (
                    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
                    id TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v14: parent column") { db in
            try db.execute(sql: """
                -- A child's parent is a column the store can index and join, not a metadata key
                -- it has to interpret (issue 17). Metadata keeps parentConnectionId for clients.
                ALTER TABLE connections ADD COLUMN parent_id TEXT;
                UPDATE connections SET parent_id = json_extract(metadata, '$.parentConnectionId')
                    WHERE json_type(metadata, '$.parentConnectionId') = 'text';
                DROP INDEX connections_by_parent;
                CREATE INDEX connections_by_parent ON connections (parent_id) WHERE parent_id IS NOT NULL;
                """)
        }
        migrator.registerMigration("v15: replica members") { db in
            try db.execute(sql: """
                -- The processes serving this store (issue 18). With SQLite there is one; the
                -- table is the same as PostgreSQL's so both answer GET /api/system/replicas alike.
                CREATE TABLE replica_members (
                    id TEXT PRIMARY KEY,
                    started_at INTEGER NOT NULL,
                    heartbeat_at INTEGER NOT NULL,
                    owned_connections INTEGER NOT NULL,
                    address TEXT
                );
                """)
        }
        return migrator
    }
}
