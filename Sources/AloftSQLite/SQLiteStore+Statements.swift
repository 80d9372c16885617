import AloftCore
import CSQLite
import Foundation

// The SQLite calls under `SQLiteStore`: statements prepared once and cached, values bound, rows read. Everything
// here runs on the store's queue.

extension SQLiteStore {
    enum Value {
        case int(Int64)
        case double(Double)
        case text(String)
        case blob(Data)
        case null
    }

    struct Row {
        let statement: OpaquePointer
        func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
        func double(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
        func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
        func text(_ column: Int32) -> String {
            sqlite3_column_text(statement, column).map { String(cString: $0) } ?? ""
        }
        func blob(_ column: Int32) -> Data {
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let bytes = sqlite3_column_blob(statement, column) else { return Data() }
            return Data(bytes: bytes, count: count)
        }
    }

    func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    func connection() throws -> OpaquePointer {
        guard let database else { throw AloftError(.storeFailure, "the SQLite store at \(path) is not open") }
        return database
    }

    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(try connection(), sql, nil, nil, &message) == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(message)
            throw AloftError(.storeFailure, "SQLite: \(text)")
        }
    }

    /// A prepared statement for `sql`, cached, with `values` bound.
    func prepare(_ sql: String, _ values: [Value]) throws -> OpaquePointer {
        let database = try connection()
        let statement: OpaquePointer
        if let cached = statements[sql] {
            statement = cached
        } else {
            var prepared: OpaquePointer?
            guard sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil) == SQLITE_OK,
                let prepared
            else {
                throw AloftError(.storeFailure, "SQLite: \(String(cString: sqlite3_errmsg(database)))")
            }
            statements[sql] = prepared
            statement = prepared
        }
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        // SQLITE_TRANSIENT: SQLite copies the bytes before the call returns.
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .int(let number): sqlite3_bind_int64(statement, index, number)
            case .double(let number): sqlite3_bind_double(statement, index, number)
            case .text(let text): sqlite3_bind_text(statement, index, text, -1, transient)
            case .null: sqlite3_bind_null(statement, index)
            case .blob(let data):
                _ = data.withUnsafeBytes { bytes in
                    // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
                    sqlite3_bind_blob(
                        statement, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count),
                        transient)
                }
            }
        }
        return statement
    }

    func run(_ sql: String, _ values: [Value] = []) throws {
        let statement = try prepare(sql, values)
        defer { sqlite3_reset(statement) }
        let status = sqlite3_step(statement)
        guard status == SQLITE_DONE || status == SQLITE_ROW else {
            throw AloftError(.storeFailure, "SQLite: \(String(cString: sqlite3_errmsg(try connection())))")
        }
    }

    func query(_ sql: String, _ values: [Value] = [], _ row: (Row) throws -> Void) throws {
        let statement = try prepare(sql, values)
        defer { sqlite3_reset(statement) }
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else {
                throw AloftError(.storeFailure, "SQLite: \(String(cString: sqlite3_errmsg(try connection())))")
            }
            try row(Row(statement: statement))
        }
    }
}
