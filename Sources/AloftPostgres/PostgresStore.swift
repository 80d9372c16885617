public import AloftControlPlane
import AloftCore
public import Foundation
public import Logging
public import PostgresNIO
import Synchronization

/// The control plane's store in PostgreSQL, for several hosts sharing one database.
///
/// Tables live in one PostgreSQL schema (`aloft` by default), created on `open`; a batch is one transaction.
/// The client (postgres-nio's connection pool) runs for as long as the store is open.
public final class PostgresStore: ControlPlaneStore {
    private let client: PostgresClient
    let schema: String
    let logger: Logger
    private let running = Mutex<Task<Void, Never>?>(nil)

    /// - Parameters:
    ///   - schema: the PostgreSQL schema for the tables (letters, digits and `_`).
    public init(
        configuration: PostgresClient.Configuration, schema: String = "aloft",
        logger: Logger = Logger(label: "aloft.store")
    ) throws {
        guard !schema.isEmpty, schema.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw AloftError(.invalidConfiguration, "PostgreSQL schema name '\(schema)' must be letters, digits and _")
        }
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.schema = schema
        self.logger = logger
    }

    /// A store for `postgres://user:password@host:port/database` (TLS off: PostgreSQL on a private network or
    /// loopback; build a `PostgresClient.Configuration` for anything else).
    public convenience init(url: String, schema: String = "aloft", logger: Logger = Logger(label: "aloft.store")) throws
    {
        guard let components = URLComponents(string: url),
            ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, let user = components.user
        else {
            throw AloftError(
                .invalidConfiguration,
                "'\(Self.redacted(url))' is not a PostgreSQL URL (postgres://user:password@host:port/database)")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: .disable)
        try self.init(configuration: configuration, schema: schema, logger: logger)
    }

    /// The URL without its password, for messages and logs.
    static func redacted(_ url: String) -> String {
        if var components = URLComponents(string: url) {
            guard components.password != nil else { return url }
            components.password = "***"
            return components.string ?? "postgres://…"
        }
        // Unparseable: keep the scheme and what follows the last @, never what could be a password.
        guard let scheme = url.range(of: "://"), let at = url.range(of: "@", options: .backwards) else {
            return "postgres://…"
        }
        return url[..<scheme.upperBound] + "…@" + url[at.upperBound...]
    }

    // MARK: ControlPlaneStore

    public func open() async throws {
        running.withLock { running in
            if running == nil { running = Task { [client] in await client.run() } }
        }
        let s = schema
        do {
            try await client.withConnection { connection in
                for statement: PostgresQuery in [
                    "CREATE SCHEMA IF NOT EXISTS \(unescaped: s)",
                    """
                    CREATE TABLE IF NOT EXISTS \(unescaped: s).functions (
                        id BIGINT PRIMARY KEY, key TEXT NOT NULL, workspace TEXT NOT NULL, app TEXT NOT NULL,
                        registration BYTEA NOT NULL)
                    """,
                    """
                    CREATE TABLE IF NOT EXISTS \(unescaped: s).calls (
                        id TEXT PRIMARY KEY, workspace TEXT NOT NULL, function_id BIGINT NOT NULL, kind INTEGER NOT NULL,
                        inputs_closed BOOLEAN NOT NULL, created_at DOUBLE PRECISION NOT NULL)
                    """,
                    """
                    CREATE TABLE IF NOT EXISTS \(unescaped: s).inputs (
                        call_id TEXT NOT NULL, idx BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (call_id, idx))
                    """,
                    """
                    CREATE TABLE IF NOT EXISTS \(unescaped: s).results (
                        call_id TEXT NOT NULL, idx BIGINT NOT NULL, result BYTEA NOT NULL,
                        expires_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (call_id, idx))
                    """,
                    "CREATE INDEX IF NOT EXISTS results_by_expiry ON \(unescaped: s).results (expires_at)",
                    """
                    CREATE TABLE IF NOT EXISTS \(unescaped: s).tokens (
                        id TEXT PRIMARY KEY, workspace TEXT NOT NULL, kind TEXT NOT NULL, secret_hash TEXT NOT NULL,
                        created_at DOUBLE PRECISION NOT NULL, revoked BOOLEAN NOT NULL)
                    """,
                    // Added after the first version (NULL: never expires).
                    "ALTER TABLE \(unescaped: s).tokens ADD COLUMN IF NOT EXISTS expires_at DOUBLE PRECISION",
                    """
                    CREATE TABLE IF NOT EXISTS \(unescaped: s).app_versions (
                        workspace TEXT NOT NULL, app TEXT NOT NULL, version INTEGER NOT NULL, artifact TEXT NOT NULL,
                        manifest BYTEA NOT NULL, created_at DOUBLE PRECISION NOT NULL, live BOOLEAN NOT NULL,
                        PRIMARY KEY (workspace, app, version))
                    """,
                ] + Self.objectSchema(s) + Self.scheduleSchema(s) {
                    try await connection.query(statement, logger: logger)
                }
            }
        } catch {
            throw AloftError(
                .storeFailure, "could not open the PostgreSQL store (schema \(schema)): \(String(reflecting: error))")
        }
    }

    public func load() async throws -> StoredState {
        let s = schema
        return try await wrap("load") {
            try await self.client.withConnection { connection in
                var state = StoredState()
                let functions = try await connection.query(
                    "SELECT id, key, app, registration, workspace FROM \(unescaped: s).functions ORDER BY id",
                    logger: self.logger)
                for try await (id, key, app, registration, workspace) in functions.decode(
                    (Int64, String, String, Data, String).self)
                {
                    state.functions.append(
                        StoredFunction(
                            id: UInt64(bitPattern: id), key: key, workspace: workspace, appName: app,
                            registration: registration))
                }
                var calls: [StoredCall] = []
                let rows = try await connection.query(
                    """
                    SELECT id, function_id, kind, inputs_closed, created_at, workspace FROM \(unescaped: s).calls c
                    WHERE NOT inputs_closed OR EXISTS (SELECT 1 FROM \(unescaped: s).inputs i WHERE i.call_id = c.id)
                    ORDER BY created_at, id
                    """, logger: self.logger)
                for try await (id, function, kind, closed, created, workspace) in rows.decode(
                    (String, Int64, Int32, Bool, Double, String).self)
                {
                    calls.append(
                        StoredCall(
                            id: id, workspace: workspace, functionID: UInt64(bitPattern: function), kind: Int(kind),
                            inputsClosed: closed,
                            createdAt: Date(timeIntervalSince1970: created)))
                }
                for call in calls {
                    var inputs: [StoredInput] = []
                    let rows = try await connection.query(
                        "SELECT idx, data FROM \(unescaped: s).inputs WHERE call_id = \(call.id) ORDER BY idx",
                        logger: self.logger)
                    for try await (index, data) in rows.decode((Int64, Data).self) {
                        inputs.append(StoredInput(index: UInt64(bitPattern: index), data: data))
                    }
                    state.unfinishedCalls.append((call, inputs))
                }
                try await self.loadObjects(into: &state, on: connection)
                try await self.loadSchedules(into: &state, on: connection)
                return state
            }
        }
    }

    public func apply(_ changes: [StoreChange]) async throws {
        guard !changes.isEmpty else { return }
        try await wrap("write") {
            try await self.client.withTransaction(logger: self.logger) { connection in
                for change in changes { try await self.apply(change, on: connection) }
            }
        }
    }

    public func result(callID: String, index: UInt64) async throws -> Data? {
        let s = schema
        return try await wrap("read") {
            let rows = try await self.client.query(
                """
                SELECT result FROM \(unescaped: s).results
                WHERE call_id = \(callID) AND idx = \(Int64(bitPattern: index)) AND expires_at >= \(Date().timeIntervalSince1970)
                """, logger: self.logger)
            for try await (result) in rows.decode(Data.self) { return result }
            return nil
        }
    }

    public func call(id: String) async throws -> StoredCall? {
        let s = schema
        return try await wrap("read") {
            let rows = try await self.client.query(
                "SELECT id, function_id, kind, inputs_closed, created_at, workspace FROM \(unescaped: s).calls WHERE id = \(id)",
                logger: self.logger)
            for try await (id, function, kind, closed, created, workspace) in rows.decode(
                (String, Int64, Int32, Bool, Double, String).self)
            {
                return StoredCall(
                    id: id, workspace: workspace, functionID: UInt64(bitPattern: function), kind: Int(kind),
                    inputsClosed: closed, createdAt: Date(timeIntervalSince1970: created))
            }
            return nil
        }
    }

    public func token(id: String) async throws -> StoredToken? {
        try await tokens(matching: id).first
    }

    public func tokens() async throws -> [StoredToken] {
        try await tokens(matching: nil)
    }

    /// The token with this id, or every token when `id` is nil.
    private func tokens(matching id: String?) async throws -> [StoredToken] {
        let s = schema
        return try await wrap("read") {
            let query: PostgresQuery =
                id.map { id in
                    """
                    SELECT id, workspace, kind, secret_hash, created_at, revoked, expires_at
                    FROM \(unescaped: s).tokens WHERE id = \(id)
                    """
                }
                    ?? """
                    SELECT id, workspace, kind, secret_hash, created_at, revoked, expires_at
                    FROM \(unescaped: s).tokens ORDER BY created_at, id
                    """
            var tokens: [StoredToken] = []
            let rows = try await self.client.query(query, logger: self.logger)
            for try await (id, workspace, kind, hash, created, revoked, expires) in rows.decode(
                (String, String, String, String, Double, Bool, Double?).self)
            {
                tokens.append(
                    StoredToken(
                        id: id, workspace: workspace, kind: StoredToken.Kind(rawValue: kind) ?? .client,
                        secretHash: hash, createdAt: Date(timeIntervalSince1970: created), revoked: revoked,
                        expiresAt: expires.map { Date(timeIntervalSince1970: $0) }))
            }
            return tokens
        }
    }

    public func appVersions(workspace: String) async throws -> [StoredAppVersion] {
        let s = schema
        return try await wrap("read") {
            var versions: [StoredAppVersion] = []
            let rows = try await self.client.query(
                """
                SELECT app, version, artifact, manifest, created_at, live FROM \(unescaped: s).app_versions
                WHERE workspace = \(workspace) ORDER BY app, version
                """, logger: self.logger)
            for try await (app, version, artifact, manifest, created, live) in rows.decode(
                (String, Int32, String, Data, Double, Bool).self)
            {
                versions.append(
                    StoredAppVersion(
                        workspace: workspace, appName: app, version: Int(version), artifact: artifact,
                        manifest: manifest, createdAt: Date(timeIntervalSince1970: created), live: live))
            }
            return versions
        }
    }

    public func close() async {
        let task = running.withLock { running in
            defer { running = nil }
            return running
        }
        task?.cancel()
        await task?.value
    }

    /// Drops the schema and everything in it (tests); the store must be open.
    public func dropSchema() async throws {
        try await client.query("DROP SCHEMA IF EXISTS \(unescaped: schema) CASCADE", logger: logger)
    }

    // MARK: Changes

    private func apply(_ change: StoreChange, on connection: PostgresConnection) async throws {
        let s = schema
        switch change {
        case .putFunction(let function):
            try await connection.query(
                """
                INSERT INTO \(unescaped: s).functions (id, key, workspace, app, registration)
                VALUES (\(Int64(bitPattern: function.id)), \(function.key), \(function.workspace), \(function.appName), \(function.registration))
                ON CONFLICT (id) DO UPDATE SET key = excluded.key, workspace = excluded.workspace, app = excluded.app,
                    registration = excluded.registration
                """, logger: logger)
        case .putCall(let call):
            try await connection.query(
                """
                INSERT INTO \(unescaped: s).calls (id, workspace, function_id, kind, inputs_closed, created_at)
                VALUES (\(call.id), \(call.workspace), \(Int64(bitPattern: call.functionID)), \(Int32(call.kind)), \(call.inputsClosed),
                        \(call.createdAt.timeIntervalSince1970))
                ON CONFLICT DO NOTHING
                """, logger: logger)
        case .putInputs(let callID, let inputs):
            for input in inputs {
                try await connection.query(
                    """
                    INSERT INTO \(unescaped: s).inputs (call_id, idx, data) VALUES (\(callID), \(Int64(bitPattern: input.index)), \(input.data))
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
        case .closeInputs(let callID):
            try await connection.query(
                "UPDATE \(unescaped: s).calls SET inputs_closed = TRUE WHERE id = \(callID)", logger: logger)
        case .finishInput(let callID, let index, let result, let expiresAt):
            try await connection.query(
                "DELETE FROM \(unescaped: s).inputs WHERE call_id = \(callID) AND idx = \(Int64(bitPattern: index))",
                logger: logger)
            if let result {
                try await connection.query(
                    """
                    INSERT INTO \(unescaped: s).results (call_id, idx, result, expires_at)
                    VALUES (\(callID), \(Int64(bitPattern: index)), \(result), \(expiresAt.timeIntervalSince1970))
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
        case .deleteCall(let id):
            try await connection.query("DELETE FROM \(unescaped: s).inputs WHERE call_id = \(id)", logger: logger)
            try await connection.query("DELETE FROM \(unescaped: s).results WHERE call_id = \(id)", logger: logger)
            try await connection.query("DELETE FROM \(unescaped: s).calls WHERE id = \(id)", logger: logger)
        case .putToken(let token):
            try await connection.query(
                """
                INSERT INTO \(unescaped: s).tokens (id, workspace, kind, secret_hash, created_at, revoked, expires_at)
                VALUES (\(token.id), \(token.workspace), \(token.kind.rawValue), \(token.secretHash),
                        \(token.createdAt.timeIntervalSince1970), \(token.revoked),
                        \(token.expiresAt?.timeIntervalSince1970))
                ON CONFLICT (id) DO UPDATE SET workspace = excluded.workspace, kind = excluded.kind,
                    secret_hash = excluded.secret_hash, created_at = excluded.created_at, revoked = excluded.revoked,
                    expires_at = excluded.expires_at
                """, logger: logger)
        case .revokeToken(let id):
            try await connection.query(
                "UPDATE \(unescaped: s).tokens SET revoked = TRUE WHERE id = \(id)", logger: logger)
        case .putAppVersion(let version):
            try await connection.query(
                """
                INSERT INTO \(unescaped: s).app_versions (workspace, app, version, artifact, manifest, created_at, live)
                VALUES (\(version.workspace), \(version.appName), \(Int32(version.version)), \(version.artifact), \(version.manifest),
                        \(version.createdAt.timeIntervalSince1970), \(version.live))
                ON CONFLICT DO NOTHING
                """, logger: logger)
        case .setLiveVersion(let workspace, let appName, let version):
            try await connection.query(
                """
                UPDATE \(unescaped: s).app_versions SET live = (version = \(Int32(version ?? -1)))
                WHERE workspace = \(workspace) AND app = \(appName)
                """, logger: logger)
        case .deleteFunctions(let workspace, let appName):
            try await connection.query(
                "DELETE FROM \(unescaped: s).functions WHERE workspace = \(workspace) AND app = \(appName)",
                logger: logger)
        case .putSecret, .deleteSecret, .putDict, .deleteDict, .putDictEntries, .deleteDictEntries, .clearDict,
            .putQueue, .deleteQueue, .putQueueItems, .deleteQueueItems, .clearQueue, .putQueueReceipt,
            .deleteQueueReceipts:
            try await applyObjectChange(change, on: connection)
        case .putSchedule, .deleteSchedules:
            try await applyScheduleChange(change, on: connection)
        case .expireResults(let date):
            try await connection.query(
                "DELETE FROM \(unescaped: s).results WHERE expires_at < \(date.timeIntervalSince1970)", logger: logger)
            try await connection.query(
                """
                DELETE FROM \(unescaped: s).calls c WHERE inputs_closed
                AND NOT EXISTS (SELECT 1 FROM \(unescaped: s).inputs i WHERE i.call_id = c.id)
                AND NOT EXISTS (SELECT 1 FROM \(unescaped: s).results r WHERE r.call_id = c.id)
                """, logger: logger)
        }
    }

    /// Runs `body`, turning a database error into a `storeFailure` that says what failed.
    private func wrap<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as AloftError {
            throw error
        } catch {
            throw AloftError(.storeFailure, "PostgreSQL \(what) failed: \(String(reflecting: error))")
        }
    }
}
