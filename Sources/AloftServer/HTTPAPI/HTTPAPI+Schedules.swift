import AloftControlPlane
import AloftCore
import Foundation
import Hummingbird

// Schedules of deployed functions: where each one stands (`aloft app list`, `aloft app history`).

extension HTTPAPI {
    static func addSchedules(to routes: RouterGroup<APIRequestContext>, controlPlane: ControlPlane) {
        routes.get("schedules") { _, context -> Response in
            let schedules = try await controlPlane.schedules(workspace: context.workspace)
            return try object(.ok, ["schedules": schedules.map(json)])
        }
        routes.get("apps/:app/schedules") { _, context -> Response in
            let app = try context.parameters.require("app")
            let schedules = try await controlPlane.schedules(workspace: context.workspace, app: app)
            return try object(.ok, ["schedules": schedules.map(json)])
        }
    }

    /// `{"app", "function", "schedule", "next_run", "last_run", "last_call_id", "last_status", "last_error"}`; times
    /// in ISO 8601, `null` where there is none yet.
    static func json(_ status: ScheduleStatus) -> [String: Any] {
        func time(_ date: Date?) -> Any { date.map { $0.formatted(.iso8601) } ?? NSNull() }
        var fields: [String: Any] = [
            "app": status.appName, "function": status.function, "schedule": "\(status.schedule)",
            "next_run": time(status.nextRun), "last_run": time(status.lastRun),
            "last_call_id": status.lastCallID ?? NSNull(), "last_status": NSNull(),
        ]
        switch status.lastOutcome {
        case .running: fields["last_status"] = "running"
        case .succeeded: fields["last_status"] = "succeeded"
        case .failed(let message):
            fields["last_status"] = "failed"
            fields["last_error"] = message
        case .unknown: fields["last_status"] = "unknown"
        case nil: break
        }
        return fields
    }
}
