import AloftControlPlane
import CSQLite
import Foundation

// Deployed functions' schedules in SQLite: one row per scheduled function, with the last tick it fired. The same
// rows as PostgresStore+Schedules.swift.

extension SQLiteStore {
    static let scheduleSchema = """
        CREATE TABLE IF NOT EXISTS schedules (
            workspace TEXT NOT NULL, app TEXT NOT NULL, function TEXT NOT NULL, anchor REAL NOT NULL,
            last_tick REAL, last_call_id TEXT NOT NULL,
            PRIMARY KEY (workspace, app, function)) WITHOUT ROWID;
        """

    /// Every schedule, into a state being loaded (on the store's queue).
    func loadSchedules(into state: inout StoredState) throws {
        try self.query(
            "SELECT workspace, app, function, anchor, last_tick, last_call_id FROM schedules ORDER BY workspace, app, function"
        ) { row in
            state.schedules.append(
                StoredSchedule(
                    workspace: row.text(0), appName: row.text(1), function: row.text(2),
                    anchor: Date(timeIntervalSince1970: row.double(3)),
                    lastTick: row.isNull(4) ? nil : Date(timeIntervalSince1970: row.double(4)), lastCallID: row.text(5))
            )
        }
    }

    /// A change to a schedule (on the store's queue, inside the batch's transaction).
    func applyScheduleChange(_ change: StoreChange) throws {
        switch change {
        case .putSchedule(let schedule):
            try run(
                """
                INSERT OR REPLACE INTO schedules (workspace, app, function, anchor, last_tick, last_call_id)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(schedule.workspace), .text(schedule.appName), .text(schedule.function),
                    .double(schedule.anchor.timeIntervalSince1970),
                    schedule.lastTick.map { .double($0.timeIntervalSince1970) } ?? .null, .text(schedule.lastCallID),
                ])
        case .deleteSchedules(let workspace, let appName):
            try run("DELETE FROM schedules WHERE workspace = ? AND app = ?", [.text(workspace), .text(appName)])
        default:
            preconditionFailure("not a change to a schedule: \(change)")
        }
    }
}
