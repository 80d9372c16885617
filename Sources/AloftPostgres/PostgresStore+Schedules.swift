import AloftControlPlane
import Foundation
import PostgresNIO

// Deployed functions' schedules in PostgreSQL: one row per scheduled function, with the last tick it fired. The same
// rows as SQLiteStore+Schedules.swift.

extension PostgresStore {
    /// The table, in schema `s`.
    static func scheduleSchema(_ s: String) -> [PostgresQuery] {
        [
            """
            CREATE TABLE IF NOT EXISTS \(unescaped: s).schedules (
                workspace TEXT NOT NULL, app TEXT NOT NULL, function TEXT NOT NULL, anchor DOUBLE PRECISION NOT NULL,
                last_tick DOUBLE PRECISION, last_call_id TEXT NOT NULL, PRIMARY KEY (workspace, app, function))
            """
        ]
    }

    /// Every schedule, into a state being loaded.
    func loadSchedules(into state: inout StoredState, on connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            """
            SELECT workspace, app, function, anchor, last_tick, last_call_id FROM \(unescaped: schema).schedules
            ORDER BY workspace, app, function
            """, logger: self.logger)
        for try await (workspace, app, function, anchor, lastTick, lastCallID) in rows.decode(
            (String, String, String, Double, Double?, String).self)
        {
            state.schedules.append(
                StoredSchedule(
                    workspace: workspace, appName: app, function: function,
                    anchor: Date(timeIntervalSince1970: anchor),
                    lastTick: lastTick.map(Date.init(timeIntervalSince1970:)),
                    lastCallID: lastCallID))
        }
    }

    /// A change to a schedule, inside the batch's transaction.
    func applyScheduleChange(_ change: StoreChange, on connection: PostgresConnection) async throws {
        let s = schema
        switch change {
        case .putSchedule(let schedule):
            let lastTick = schedule.lastTick?.timeIntervalSince1970
            try await connection.query(
                """
                INSERT INTO \(unescaped: s).schedules (workspace, app, function, anchor, last_tick, last_call_id)
                VALUES (\(schedule.workspace), \(schedule.appName), \(schedule.function),
                        \(schedule.anchor.timeIntervalSince1970), \(lastTick), \(schedule.lastCallID))
                ON CONFLICT (workspace, app, function) DO UPDATE SET anchor = excluded.anchor,
                    last_tick = excluded.last_tick, last_call_id = excluded.last_call_id
                """, logger: logger)
        case .deleteSchedules(let workspace, let appName):
            try await connection.query(
                "DELETE FROM \(unescaped: s).schedules WHERE workspace = \(workspace) AND app = \(appName)",
                logger: logger)
        default:
            preconditionFailure("not a change to a schedule: \(change)")
        }
    }
}
