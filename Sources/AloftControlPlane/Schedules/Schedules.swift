public import AloftCore
public import Foundation
import NIOCore

/// Deployed functions' schedules on the loop: for each, where its clock stands (what the store keeps) and the timer
/// of its next tick. `Scheduler+Schedules` arms, fires and restores them.
struct Schedules {
    struct Key: Hashable {
        var workspace: String
        var app: String
        var function: String

        init(workspace: String, app: String, function: String) {
            (self.workspace, self.app, self.function) = (workspace, app, function)
        }

        init(_ stored: StoredSchedule) {
            self.init(workspace: stored.workspace, app: stored.appName, function: stored.function)
        }
    }

    struct Entry {
        var schedule: Schedule
        var stored: StoredSchedule
        /// The tick the timer waits for; `nil` when none could be computed (logged).
        var next: Date?
        var timer: Scheduled<Void>?
    }

    private(set) var entries: [Key: Entry] = [:]

    subscript(key: Key) -> Entry? {
        get { entries[key] }
        set { entries[key] = newValue }
    }

    /// Forgets an app's schedules, cancelling their timers.
    mutating func removeAll(workspace: String, app: String) {
        for (key, entry) in entries where key.workspace == workspace && key.app == app {
            entry.timer?.cancel()
            entries[key] = nil
        }
    }

    /// Cancels every timer (the control plane is stopping); the store keeps where each schedule stands.
    mutating func cancelAll() {
        for entry in entries.values { entry.timer?.cancel() }
        entries.removeAll()
    }
}

/// A deployed function's schedule as `ControlPlane.schedules` reports it: `aloft app list` and the HTTP API.
public struct ScheduleStatus: Sendable, Hashable {
    /// How the last run ended, as far as the control plane knows.
    public enum Outcome: Sendable, Hashable {
        case running
        case succeeded
        case failed(String)
        /// Its result expired or is not known here.
        case unknown
    }

    public var appName: String
    public var function: String
    public var schedule: Schedule
    /// The next tick; `nil` if none could be computed.
    public var nextRun: Date?
    /// The last tick fired, its call and how that ended; `nil` before the first tick.
    public var lastRun: Date?
    public var lastCallID: String?
    public var lastOutcome: Outcome?

    public init(
        appName: String, function: String, schedule: Schedule, nextRun: Date?, lastRun: Date?, lastCallID: String?,
        lastOutcome: Outcome?
    ) {
        self.appName = appName
        self.function = function
        self.schedule = schedule
        self.nextRun = nextRun
        self.lastRun = lastRun
        self.lastCallID = lastCallID
        self.lastOutcome = lastOutcome
    }
}
