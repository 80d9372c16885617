import AloftControlPlane
import Foundation
import PostgresNIO

// The workspace objects of issue 12 in PostgreSQL: named secrets (sealed), dicts with their entries, queues with
// their items. The same rows as SQLiteStore+Objects.swift; the conformance suite holds both to InMemoryStore.

extension PostgresStore {
    /// The tables, in schema `s`.
    static func objectSchema(_ s: String) -> [PostgresQuery] {
        [
            """
            CREATE TABLE IF NOT EXISTS \(unescaped: s).secrets (
                workspace TEXT NOT NULL, name TEXT NOT NULL, keys TEXT NOT NULL, sealed_values BYTEA NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (workspace, name))
            """,
            """
            CREATE TABLE IF NOT EXISTS \(unescaped: s).dicts (
                workspace TEXT NOT NULL, name TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (workspace, name))
            """,
            """
            CREATE TABLE IF NOT EXISTS \(unescaped: s).dict_entries (
                workspace TEXT NOT NULL, dict TEXT NOT NULL, key BYTEA NOT NULL, value BYTEA NOT NULL,
                touched_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (workspace, dict, key))
            """,
            """
            CREATE TABLE IF NOT EXISTS \(unescaped: s).queues (
                workspace TEXT NOT NULL, name TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (workspace, name))
            """,
            """
            CREATE TABLE IF NOT EXISTS \(unescaped: s).queue_items (
                workspace TEXT NOT NULL, queue TEXT NOT NULL, partition TEXT NOT NULL, position BIGINT NOT NULL,
                data BYTEA NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (workspace, queue, partition, position))
            """,
            """
            CREATE TABLE IF NOT EXISTS \(unescaped: s).queue_receipts (
                workspace TEXT NOT NULL, queue TEXT NOT NULL, id TEXT NOT NULL, items BYTEA NOT NULL,
                created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (workspace, queue, id))
            """,
        ]
    }

    /// Every secret, dict and queue, into a state being loaded.
    func loadObjects(into state: inout StoredState, on connection: PostgresConnection) async throws {
        let s = schema
        let secrets = try await connection.query(
            """
            SELECT workspace, name, keys, sealed_values, created_at, updated_at FROM \(unescaped: s).secrets
            ORDER BY workspace, name
            """, logger: self.logger)
        for try await (workspace, name, keys, sealed, created, updated) in secrets.decode(
            (String, String, String, Data, Double, Double).self)
        {
            state.secrets.append(
                StoredSecret(
                    workspace: workspace, name: name, keys: keys.split(separator: "\n").map(String.init),
                    sealedValues: sealed, createdAt: Date(timeIntervalSince1970: created),
                    updatedAt: Date(timeIntervalSince1970: updated)))
        }
        let dicts = try await connection.query(
            "SELECT workspace, name, created_at FROM \(unescaped: s).dicts ORDER BY workspace, name",
            logger: self.logger)
        for try await (workspace, name, created) in dicts.decode((String, String, Double).self) {
            state.dicts.append(
                StoredDict(workspace: workspace, name: name, createdAt: Date(timeIntervalSince1970: created)))
        }
        let queues = try await connection.query(
            "SELECT workspace, name, created_at FROM \(unescaped: s).queues ORDER BY workspace, name",
            logger: self.logger)
        for try await (workspace, name, created) in queues.decode((String, String, Double).self) {
            state.queues.append(
                StoredQueue(workspace: workspace, name: name, createdAt: Date(timeIntervalSince1970: created)))
        }
        for index in state.queues.indices {
            let queue = state.queues[index]
            let items = try await connection.query(
                """
                SELECT partition, position, data, expires_at FROM \(unescaped: s).queue_items
                WHERE workspace = \(queue.workspace) AND queue = \(queue.name) ORDER BY partition, position
                """, logger: self.logger)
            for try await (partition, position, data, expires) in items.decode(
                (String, Int64, Data, Double).self)
            {
                state.queues[index].items.append(
                    StoredQueueItem(
                        partition: partition, position: UInt64(bitPattern: position), data: data,
                        expiresAt: Date(timeIntervalSince1970: expires)))
            }
            let receipts = try await connection.query(
                """
                SELECT id, items, created_at FROM \(unescaped: s).queue_receipts
                WHERE workspace = \(queue.workspace) AND queue = \(queue.name) ORDER BY created_at, id
                """, logger: self.logger)
            for try await (id, items, created) in receipts.decode((String, Data, Double).self) {
                state.queues[index].receipts.append(
                    StoredQueueReceipt(
                        id: id, items: StoredQueueReceipt.decodeItems(items) ?? [],
                        createdAt: Date(timeIntervalSince1970: created)))
            }
        }
        for index in state.dicts.indices {
            let dict = state.dicts[index]
            let entries = try await connection.query(
                """
                SELECT key, value, touched_at FROM \(unescaped: s).dict_entries
                WHERE workspace = \(dict.workspace) AND dict = \(dict.name) ORDER BY key
                """, logger: self.logger)
            for try await (key, value, touched) in entries.decode((Data, Data, Double).self) {
                state.dicts[index].entries.append(
                    StoredDictEntry(key: key, value: value, touchedAt: Date(timeIntervalSince1970: touched)))
            }
        }
    }

    /// A change to a secret, dict or queue, inside the batch's transaction.
    func applyObjectChange(_ change: StoreChange, on connection: PostgresConnection) async throws {
        let s = schema
        switch change {
        case .putSecret(let secret):
            try await connection.query(
                """
                INSERT INTO \(unescaped: s).secrets (workspace, name, keys, sealed_values, created_at, updated_at)
                VALUES (\(secret.workspace), \(secret.name), \(secret.keys.joined(separator: "\n")), \(secret.sealedValues),
                        \(secret.createdAt.timeIntervalSince1970), \(secret.updatedAt.timeIntervalSince1970))
                ON CONFLICT (workspace, name) DO UPDATE SET keys = excluded.keys, sealed_values = excluded.sealed_values,
                    created_at = excluded.created_at, updated_at = excluded.updated_at
                """, logger: logger)
        case .deleteSecret(let workspace, let name):
            try await connection.query(
                "DELETE FROM \(unescaped: s).secrets WHERE workspace = \(workspace) AND name = \(name)", logger: logger)
        case .putDict(let dict):
            try await connection.query(
                """
                INSERT INTO \(unescaped: s).dicts (workspace, name, created_at)
                VALUES (\(dict.workspace), \(dict.name), \(dict.createdAt.timeIntervalSince1970)) ON CONFLICT DO NOTHING
                """, logger: logger)
        case .deleteDict(let workspace, let name):
            try await connection.query(
                "DELETE FROM \(unescaped: s).dict_entries WHERE workspace = \(workspace) AND dict = \(name)",
                logger: logger)
            try await connection.query(
                "DELETE FROM \(unescaped: s).dicts WHERE workspace = \(workspace) AND name = \(name)", logger: logger)
        case .putDictEntries(let workspace, let dict, let entries):
            for entry in entries {
                try await connection.query(
                    """
                    INSERT INTO \(unescaped: s).dict_entries (workspace, dict, key, value, touched_at)
                    VALUES (\(workspace), \(dict), \(entry.key), \(entry.value), \(entry.touchedAt.timeIntervalSince1970))
                    ON CONFLICT (workspace, dict, key) DO UPDATE SET value = excluded.value, touched_at = excluded.touched_at
                    """, logger: logger)
            }
        case .deleteDictEntries(let workspace, let dict, let keys):
            for key in keys {
                try await connection.query(
                    """
                    DELETE FROM \(unescaped: s).dict_entries WHERE workspace = \(workspace) AND dict = \(dict)
                    AND key = \(key)
                    """, logger: logger)
            }
        case .clearDict(let workspace, let name):
            try await connection.query(
                "DELETE FROM \(unescaped: s).dict_entries WHERE workspace = \(workspace) AND dict = \(name)",
                logger: logger)
        case .putQueue(let queue):
            try await connection.query(
                """
                INSERT INTO \(unescaped: s).queues (workspace, name, created_at)
                VALUES (\(queue.workspace), \(queue.name), \(queue.createdAt.timeIntervalSince1970)) ON CONFLICT DO NOTHING
                """, logger: logger)
        case .deleteQueue(let workspace, let name):
            try await connection.query(
                "DELETE FROM \(unescaped: s).queue_items WHERE workspace = \(workspace) AND queue = \(name)",
                logger: logger)
            try await connection.query(
                "DELETE FROM \(unescaped: s).queue_receipts WHERE workspace = \(workspace) AND queue = \(name)",
                logger: logger)
            try await connection.query(
                "DELETE FROM \(unescaped: s).queues WHERE workspace = \(workspace) AND name = \(name)", logger: logger)
        case .putQueueItems(let workspace, let queue, let items):
            for item in items {
                try await connection.query(
                    """
                    INSERT INTO \(unescaped: s).queue_items (workspace, queue, partition, position, data, expires_at)
                    VALUES (\(workspace), \(queue), \(item.partition), \(Int64(bitPattern: item.position)), \(item.data),
                            \(item.expiresAt.timeIntervalSince1970))
                    ON CONFLICT (workspace, queue, partition, position) DO UPDATE SET data = excluded.data,
                        expires_at = excluded.expires_at
                    """, logger: logger)
            }
        case .deleteQueueItems(let workspace, let queue, let partition, let through):
            try await connection.query(
                """
                DELETE FROM \(unescaped: s).queue_items WHERE workspace = \(workspace) AND queue = \(queue)
                AND partition = \(partition) AND position <= \(Int64(bitPattern: through))
                """, logger: logger)
        case .clearQueue(let workspace, let name, let partition):
            if let partition {
                try await connection.query(
                    """
                    DELETE FROM \(unescaped: s).queue_items WHERE workspace = \(workspace) AND queue = \(name)
                    AND partition = \(partition)
                    """, logger: logger)
            } else {
                try await connection.query(
                    "DELETE FROM \(unescaped: s).queue_items WHERE workspace = \(workspace) AND queue = \(name)",
                    logger: logger)
            }
        case .putQueueReceipt(let workspace, let queue, let receipt):
            try await connection.query(
                """
                INSERT INTO \(unescaped: s).queue_receipts (workspace, queue, id, items, created_at)
                VALUES (\(workspace), \(queue), \(receipt.id), \(receipt.encodedItems),
                        \(receipt.createdAt.timeIntervalSince1970))
                ON CONFLICT (workspace, queue, id) DO UPDATE SET items = excluded.items, created_at = excluded.created_at
                """, logger: logger)
        case .deleteQueueReceipts(let workspace, let queue, let ids):
            for id in ids {
                try await connection.query(
                    """
                    DELETE FROM \(unescaped: s).queue_receipts WHERE workspace = \(workspace) AND queue = \(queue)
                    AND id = \(id)
                    """, logger: logger)
            }
        default:
            preconditionFailure("not a change to a secret, dict or queue: \(change)")
        }
    }
}
