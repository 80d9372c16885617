import AloftControlPlane
import CSQLite
import Foundation

// The workspace objects of issue 12 in SQLite: named secrets (sealed), dicts with their entries, queues with their
// items. The same rows as PostgresStore+Objects.swift; the conformance suite holds both to InMemoryStore.

extension SQLiteStore {
    static let objectSchema = """
        CREATE TABLE IF NOT EXISTS secrets (
            workspace TEXT NOT NULL, name TEXT NOT NULL, keys TEXT NOT NULL, sealed_values BLOB NOT NULL,
            created_at REAL NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (workspace, name)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS dicts (
            workspace TEXT NOT NULL, name TEXT NOT NULL, created_at REAL NOT NULL,
            PRIMARY KEY (workspace, name)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS dict_entries (
            workspace TEXT NOT NULL, dict TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
            touched_at REAL NOT NULL, PRIMARY KEY (workspace, dict, key)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS queues (
            workspace TEXT NOT NULL, name TEXT NOT NULL, created_at REAL NOT NULL,
            PRIMARY KEY (workspace, name)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS queue_items (
            workspace TEXT NOT NULL, queue TEXT NOT NULL, partition TEXT NOT NULL, position INTEGER NOT NULL,
            data BLOB NOT NULL, expires_at REAL NOT NULL,
            PRIMARY KEY (workspace, queue, partition, position)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS queue_receipts (
            workspace TEXT NOT NULL, queue TEXT NOT NULL, id TEXT NOT NULL, items BLOB NOT NULL,
            created_at REAL NOT NULL, PRIMARY KEY (workspace, queue, id)) WITHOUT ROWID;
        """

    /// Every secret, dict and queue, into a state being loaded (on the store's queue).
    func loadObjects(into state: inout StoredState) throws {
        try self.query(
            "SELECT workspace, name, keys, sealed_values, created_at, updated_at FROM secrets ORDER BY workspace, name"
        ) { row in
            state.secrets.append(
                StoredSecret(
                    workspace: row.text(0), name: row.text(1),
                    keys: row.text(2).split(separator: "\n").map(String.init), sealedValues: row.blob(3),
                    createdAt: Date(timeIntervalSince1970: row.double(4)),
                    updatedAt: Date(timeIntervalSince1970: row.double(5))))
        }
        try self.query("SELECT workspace, name, created_at FROM dicts ORDER BY workspace, name") { row in
            state.dicts.append(
                StoredDict(
                    workspace: row.text(0), name: row.text(1), createdAt: Date(timeIntervalSince1970: row.double(2))
                ))
        }
        try self.query("SELECT workspace, name, created_at FROM queues ORDER BY workspace, name") { row in
            state.queues.append(
                StoredQueue(
                    workspace: row.text(0), name: row.text(1), createdAt: Date(timeIntervalSince1970: row.double(2))
                ))
        }
        for index in state.queues.indices {
            let queue = state.queues[index]
            try self.query(
                """
                SELECT partition, position, data, expires_at FROM queue_items WHERE workspace = ? AND queue = ?
                ORDER BY partition, position
                """,
                [.text(queue.workspace), .text(queue.name)]
            ) { row in
                state.queues[index].items.append(
                    StoredQueueItem(
                        partition: row.text(0), position: UInt64(bitPattern: row.int64(1)), data: row.blob(2),
                        expiresAt: Date(timeIntervalSince1970: row.double(3))))
            }
            try self.query(
                "SELECT id, items, created_at FROM queue_receipts WHERE workspace = ? AND queue = ? ORDER BY created_at, id",
                [.text(queue.workspace), .text(queue.name)]
            ) { row in
                state.queues[index].receipts.append(
                    StoredQueueReceipt(
                        id: row.text(0), items: StoredQueueReceipt.decodeItems(row.blob(1)) ?? [],
                        createdAt: Date(timeIntervalSince1970: row.double(2))))
            }
        }
        for index in state.dicts.indices {
            let dict = state.dicts[index]
            try self.query(
                "SELECT key, value, touched_at FROM dict_entries WHERE workspace = ? AND dict = ? ORDER BY key",
                [.text(dict.workspace), .text(dict.name)]
            ) { row in
                state.dicts[index].entries.append(
                    StoredDictEntry(
                        key: row.blob(0), value: row.blob(1), touchedAt: Date(timeIntervalSince1970: row.double(2)))
                )
            }
        }
    }

    /// A change to a secret, dict or queue (on the store's queue, inside the batch's transaction).
    func applyObjectChange(_ change: StoreChange) throws {
        switch change {
        case .putSecret(let secret):
            try run(
                """
                INSERT OR REPLACE INTO secrets (workspace, name, keys, sealed_values, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(secret.workspace), .text(secret.name), .text(secret.keys.joined(separator: "\n")),
                    .blob(secret.sealedValues), .double(secret.createdAt.timeIntervalSince1970),
                    .double(secret.updatedAt.timeIntervalSince1970),
                ])
        case .deleteSecret(let workspace, let name):
            try run("DELETE FROM secrets WHERE workspace = ? AND name = ?", [.text(workspace), .text(name)])
        case .putDict(let dict):
            try run(
                "INSERT OR IGNORE INTO dicts (workspace, name, created_at) VALUES (?, ?, ?)",
                [.text(dict.workspace), .text(dict.name), .double(dict.createdAt.timeIntervalSince1970)])
        case .deleteDict(let workspace, let name):
            try run("DELETE FROM dict_entries WHERE workspace = ? AND dict = ?", [.text(workspace), .text(name)])
            try run("DELETE FROM dicts WHERE workspace = ? AND name = ?", [.text(workspace), .text(name)])
        case .putDictEntries(let workspace, let dict, let entries):
            for entry in entries {
                try run(
                    "INSERT OR REPLACE INTO dict_entries (workspace, dict, key, value, touched_at) VALUES (?, ?, ?, ?, ?)",
                    [
                        .text(workspace), .text(dict), .blob(entry.key), .blob(entry.value),
                        .double(entry.touchedAt.timeIntervalSince1970),
                    ])
            }
        case .deleteDictEntries(let workspace, let dict, let keys):
            for key in keys {
                try run(
                    "DELETE FROM dict_entries WHERE workspace = ? AND dict = ? AND key = ?",
                    [.text(workspace), .text(dict), .blob(key)])
            }
        case .clearDict(let workspace, let name):
            try run("DELETE FROM dict_entries WHERE workspace = ? AND dict = ?", [.text(workspace), .text(name)])
        case .putQueue(let queue):
            try run(
                "INSERT OR IGNORE INTO queues (workspace, name, created_at) VALUES (?, ?, ?)",
                [.text(queue.workspace), .text(queue.name), .double(queue.createdAt.timeIntervalSince1970)])
        case .deleteQueue(let workspace, let name):
            try run("DELETE FROM queue_items WHERE workspace = ? AND queue = ?", [.text(workspace), .text(name)])
            try run("DELETE FROM queue_receipts WHERE workspace = ? AND queue = ?", [.text(workspace), .text(name)])
            try run("DELETE FROM queues WHERE workspace = ? AND name = ?", [.text(workspace), .text(name)])
        case .putQueueItems(let workspace, let queue, let items):
            for item in items {
                try run(
                    """
                    INSERT OR REPLACE INTO queue_items (workspace, queue, partition, position, data, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(workspace), .text(queue), .text(item.partition), .int(Int64(bitPattern: item.position)),
                        .blob(item.data), .double(item.expiresAt.timeIntervalSince1970),
                    ])
            }
        case .deleteQueueItems(let workspace, let queue, let partition, let through):
            try run(
                "DELETE FROM queue_items WHERE workspace = ? AND queue = ? AND partition = ? AND position <= ?",
                [.text(workspace), .text(queue), .text(partition), .int(Int64(bitPattern: through))])
        case .clearQueue(let workspace, let name, let partition):
            if let partition {
                try run(
                    "DELETE FROM queue_items WHERE workspace = ? AND queue = ? AND partition = ?",
                    [.text(workspace), .text(name), .text(partition)])
            } else {
                try run("DELETE FROM queue_items WHERE workspace = ? AND queue = ?", [.text(workspace), .text(name)])
            }
        case .putQueueReceipt(let workspace, let queue, let receipt):
            try run(
                "INSERT OR REPLACE INTO queue_receipts (workspace, queue, id, items, created_at) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(workspace), .text(queue), .text(receipt.id), .blob(receipt.encodedItems),
                    .double(receipt.createdAt.timeIntervalSince1970),
                ])
        case .deleteQueueReceipts(let workspace, let queue, let ids):
            for id in ids {
                try run(
                    "DELETE FROM queue_receipts WHERE workspace = ? AND queue = ? AND id = ?",
                    [.text(workspace), .text(queue), .text(id)])
            }
        default:
            preconditionFailure("not a change to a secret, dict or queue: \(change)")
        }
    }
}
