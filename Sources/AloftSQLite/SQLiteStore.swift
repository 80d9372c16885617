public import AloftControlPlane
import AloftCore
import CSQLite
public import Foundation

/// The control plane's store in one SQLite file: the server's default, with nothing else to run.
///
/// One connection, used from one serial queue (SQLite calls block; they never run on the control plane's event
/// loop). The database is in WAL mode; with ``Durability/process`` (the default) an applied batch survives the
/// process being killed, and with ``Durability/power`` it also survives the machine losing power (an fsync per batch).
public final class SQLiteStore: ControlPlaneStore, @unchecked Sendable {
    public enum Durability: Sendable {
        /// `synchronous=NORMAL`: survives a crash or `kill -9` of the process.
        case process
        /// `synchronous=FULL`: also survives a power loss, at the cost of an fsync per batch.
        case power
    }

    public let path: String
    private let durability: Durability
    let queue = DispatchQueue(label: "aloft.sqlite-store")
    // Touched only on `queue` (SQLiteStore+Statements).
    var database: OpaquePointer?
    var statements: [String: OpaquePointer] = [:]

    /// - Parameter path: the database file; its directory must exist.
    public init(path: String, durability: Durability = .process) {
        self.path = path
        self.durability = durability
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        if let database { sqlite3_close_v2(database) }
    }

    // MARK: ControlPlaneStore

    public func open() async throws {
        try await onQueue {
            guard self.database == nil else { return }
            // Readable by its owner only (SQLite's journal and WAL files take the database file's mode).
            if !FileManager.default.fileExists(atPath: self.path) {
                _ = FileManager.default.createFile(
                    atPath: self.path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: self.path)
            var handle: OpaquePointer?
            let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
            guard sqlite3_open_v2(self.path, &handle, flags, nil) == SQLITE_OK, let handle else {
                let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
                sqlite3_close_v2(handle)
                throw AloftError(.storeFailure, "could not open the SQLite database at \(self.path): \(message)")
            }
            self.database = handle
            sqlite3_busy_timeout(handle, 5_000)
            try self.execute(
                """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = \(self.durability == .power ? "FULL" : "NORMAL");
                PRAGMA foreign_keys = OFF;
                CREATE TABLE IF NOT EXISTS functions (
                    id INTEGER PRIMARY KEY, key TEXT NOT NULL, workspace TEXT NOT NULL, app TEXT NOT NULL,
                    registration BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS calls (
                    id TEXT PRIMARY KEY, workspace TEXT NOT NULL, function_id INTEGER NOT NULL, kind INTEGER NOT NULL,
                    inputs_closed INTEGER NOT NULL, created_at REAL NOT NULL);
                CREATE TABLE IF NOT EXISTS inputs (
                    call_id TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL,
                    PRIMARY KEY (call_id, idx)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS results (
                    call_id TEXT NOT NULL, idx INTEGER NOT NULL, result BLOB NOT NULL, expires_at REAL NOT NULL,
                    PRIMARY KEY (call_id, idx)) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS results_by_expiry ON results (expires_at);
                CREATE TABLE IF NOT EXISTS tokens (
                    id TEXT PRIMARY KEY, workspace TEXT NOT NULL, kind TEXT NOT NULL, secret_hash TEXT NOT NULL,
                    created_at REAL NOT NULL, revoked INTEGER NOT NULL, expires_at REAL);
                CREATE TABLE IF NOT EXISTS app_versions (
                    workspace TEXT NOT NULL, app TEXT NOT NULL, version INTEGER NOT NULL, artifact TEXT NOT NULL,
                    manifest BLOB NOT NULL, created_at REAL NOT NULL, live INTEGER NOT NULL,
                    PRIMARY KEY (workspace, app, version)) WITHOUT ROWID;
                """)
            try self.execute(Self.objectSchema)
            try self.execute(Self.scheduleSchema)
            // Version 2 added tokens.expires_at; a database made by version 1 gets the column (NULL: never).
            var tokenColumns: Set<String> = []
            try self.query("PRAGMA table_info(tokens)", []) { row in tokenColumns.insert(row.text(1)) }
            if !tokenColumns.contains("expires_at") {
                try self.execute("ALTER TABLE tokens ADD COLUMN expires_at REAL")
            }
            try self.execute("PRAGMA user_version = 2")
        }
    }

    public func load() async throws -> StoredState {
        try await onQueue {
            var state = StoredState()
            try self.query("SELECT id, key, app, registration, workspace FROM functions ORDER BY id") { row in
                state.functions.append(
                    StoredFunction(
                        id: UInt64(bitPattern: row.int64(0)), key: row.text(1), workspace: row.text(4),
                        appName: row.text(2),
                        registration: row.blob(3)))
            }
            var calls: [StoredCall] = []
            try self.query(
                """
                SELECT id, function_id, kind, inputs_closed, created_at, workspace FROM calls c
                WHERE inputs_closed = 0 OR EXISTS (SELECT 1 FROM inputs i WHERE i.call_id = c.id)
                ORDER BY created_at, id
                """
            ) { row in
                calls.append(
                    StoredCall(
                        id: row.text(0), workspace: row.text(5), functionID: UInt64(bitPattern: row.int64(1)),
                        kind: Int(row.int64(2)),
                        inputsClosed: row.int64(3) != 0, createdAt: Date(timeIntervalSince1970: row.double(4))))
            }
            for call in calls {
                var inputs: [StoredInput] = []
                try self.query("SELECT idx, data FROM inputs WHERE call_id = ? ORDER BY idx", [.text(call.id)]) { row in
                    inputs.append(StoredInput(index: UInt64(bitPattern: row.int64(0)), data: row.blob(1)))
                }
                state.unfinishedCalls.append((call, inputs))
            }
            try self.loadObjects(into: &state)
            try self.loadSchedules(into: &state)
            return state
        }
    }

    public func apply(_ changes: [StoreChange]) async throws {
        guard !changes.isEmpty else { return }
        try await onQueue {
            try self.execute("BEGIN IMMEDIATE")
            do {
                for change in changes { try self.apply(change) }
                try self.execute("COMMIT")
            } catch {
                try? self.execute("ROLLBACK")
                throw error
            }
        }
    }

    public func result(callID: String, index: UInt64) async throws -> Data? {
        try await onQueue {
            var result: Data?
            try self.query(
                "SELECT result FROM results WHERE call_id = ? AND idx = ? AND expires_at >= ?",
                [.text(callID), .int(Int64(bitPattern: index)), .double(Date().timeIntervalSince1970)]
            ) { row in
                result = row.blob(0)
            }
            return result
        }
    }

    public func call(id: String) async throws -> StoredCall? {
        try await onQueue {
            var call: StoredCall?
            try self.query(
                "SELECT id, function_id, kind, inputs_closed, created_at, workspace FROM calls WHERE id = ?",
                [.text(id)]
            ) { row in
                call = StoredCall(
                    id: row.text(0), workspace: row.text(5), functionID: UInt64(bitPattern: row.int64(1)),
                    kind: Int(row.int64(2)),
                    inputsClosed: row.int64(3) != 0, createdAt: Date(timeIntervalSince1970: row.double(4)))
            }
            return call
        }
    }

    public func token(id: String) async throws -> StoredToken? {
        try await tokens(where: "WHERE id = ?", [.text(id)]).first
    }

    public func tokens() async throws -> [StoredToken] {
        try await tokens(where: "ORDER BY created_at, id", [])
    }

    private func tokens(where clause: String, _ values: [Value]) async throws -> [StoredToken] {
        try await onQueue {
            var tokens: [StoredToken] = []
            try self.query(
                "SELECT id, workspace, kind, secret_hash, created_at, revoked, expires_at FROM tokens \(clause)", values
            ) { row in
                tokens.append(
                    StoredToken(
                        id: row.text(0), workspace: row.text(1),
                        kind: StoredToken.Kind(rawValue: row.text(2)) ?? .client,
                        secretHash: row.text(3), createdAt: Date(timeIntervalSince1970: row.double(4)),
                        revoked: row.int64(5) != 0,
                        expiresAt: row.isNull(6) ? nil : Date(timeIntervalSince1970: row.double(6))))
            }
            return tokens
        }
    }

    public func appVersions(workspace: String) async throws -> [StoredAppVersion] {
        try await onQueue {
            var versions: [StoredAppVersion] = []
            try self.query(
                """
                SELECT app, version, artifact, manifest, created_at, live FROM app_versions WHERE workspace = ?
                ORDER BY app, version
                """, [.text(workspace)]
            ) { row in
                versions.append(
                    StoredAppVersion(
                        workspace: workspace, appName: row.text(0), version: Int(row.int64(1)), artifact: row.text(2),
                        manifest: row.blob(3),
                        createdAt: Date(timeIntervalSince1970: row.double(4)), live: row.int64(5) != 0))
            }
            return versions
        }
    }

    public func close() async {
        try? await onQueue {
            for statement in self.statements.values { sqlite3_finalize(statement) }
            self.statements.removeAll()
            if let database = self.database { sqlite3_close_v2(database) }
            self.database = nil
        }
    }

    // MARK: Changes

    private func apply(_ change: StoreChange) throws {
        switch change {
        case .putFunction(let function):
            try run(
                "INSERT OR REPLACE INTO functions (id, key, workspace, app, registration) VALUES (?, ?, ?, ?, ?)",
                [
                    .int(Int64(bitPattern: function.id)), .text(function.key), .text(function.workspace),
                    .text(function.appName),
                    .blob(function.registration),
                ])
        case .putCall(let call):
            try run(
                "INSERT OR IGNORE INTO calls (id, workspace, function_id, kind, inputs_closed, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(call.id), .text(call.workspace), .int(Int64(bitPattern: call.functionID)),
                    .int(Int64(call.kind)),
                    .int(call.inputsClosed ? 1 : 0), .double(call.createdAt.timeIntervalSince1970),
                ])
        case .putInputs(let callID, let inputs):
            for input in inputs {
                try run(
                    "INSERT OR IGNORE INTO inputs (call_id, idx, data) VALUES (?, ?, ?)",
                    [.text(callID), .int(Int64(bitPattern: input.index)), .blob(input.data)])
            }
        case .closeInputs(let callID):
            try run("UPDATE calls SET inputs_closed = 1 WHERE id = ?", [.text(callID)])
        case .finishInput(let callID, let index, let result, let expiresAt):
            try run(
                "DELETE FROM inputs WHERE call_id = ? AND idx = ?", [.text(callID), .int(Int64(bitPattern: index))])
            if let result {
                try run(
                    "INSERT OR IGNORE INTO results (call_id, idx, result, expires_at) VALUES (?, ?, ?, ?)",
                    [
                        .text(callID), .int(Int64(bitPattern: index)), .blob(result),
                        .double(expiresAt.timeIntervalSince1970),
                    ])
            }
        case .deleteCall(let id):
            for table in ["inputs", "results"] { try run("DELETE FROM \(table) WHERE call_id = ?", [.text(id)]) }
            try run("DELETE FROM calls WHERE id = ?", [.text(id)])
        case .putToken(let token):
            try run(
                """
                INSERT OR REPLACE INTO tokens (id, workspace, kind, secret_hash, created_at, revoked, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(token.id), .text(token.workspace), .text(token.kind.rawValue), .text(token.secretHash),
                    .double(token.createdAt.timeIntervalSince1970), .int(token.revoked ? 1 : 0),
                    token.expiresAt.map { .double($0.timeIntervalSince1970) } ?? .null,
                ])
        case .revokeToken(let id):
            try run("UPDATE tokens SET revoked = 1 WHERE id = ?", [.text(id)])
        case .putAppVersion(let version):
            try run(
                """
                INSERT OR IGNORE INTO app_versions (workspace, app, version, artifact, manifest, created_at, live)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(version.workspace), .text(version.appName), .int(Int64(version.version)),
                    .text(version.artifact),
                    .blob(version.manifest), .double(version.createdAt.timeIntervalSince1970),
                    .int(version.live ? 1 : 0),
                ])
        case .setLiveVersion(let workspace, let appName, let version):
            try run(
                "UPDATE app_versions SET live = (version = ?) WHERE workspace = ? AND app = ?",
                [.int(Int64(version ?? -1)), .text(workspace), .text(appName)])
        case .deleteFunctions(let workspace, let appName):
            try run("DELETE FROM functions WHERE workspace = ? AND app = ?", [.text(workspace), .text(appName)])
        case .putSecret, .deleteSecret, .putDict, .deleteDict, .putDictEntries, .deleteDictEntries, .clearDict,
            .putQueue, .deleteQueue, .putQueueItems, .deleteQueueItems, .clearQueue, .putQueueReceipt,
            .deleteQueueReceipts:
            try applyObjectChange(change)
        case .putSchedule, .deleteSchedules:
            try applyScheduleChange(change)
        case .expireResults(let date):
            try run("DELETE FROM results WHERE expires_at < ?", [.double(date.timeIntervalSince1970)])
            try run(
                """
                DELETE FROM calls WHERE inputs_closed = 1
                AND NOT EXISTS (SELECT 1 FROM inputs i WHERE i.call_id = calls.id)
                AND NOT EXISTS (SELECT 1 FROM results r WHERE r.call_id = calls.id)
                """)
        }
    }
}
