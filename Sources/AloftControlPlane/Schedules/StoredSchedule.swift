public import Foundation

/// Where a deployed function's schedule stands, as a store keeps it: when its clock started and the last tick it
/// fired, so that a restarted control plane never fires a tick twice (Schedules/).
public struct StoredSchedule: Sendable, Hashable {
    public var workspace: String
    public var appName: String
    public var function: String
    /// When the schedule's clock started: the deployment of the live version (a period counts from here).
    public var anchor: Date
    /// The last tick fired; `nil`: none yet.
    public var lastTick: Date?
    /// The call the last tick made; empty: none.
    public var lastCallID: String

    public init(
        workspace: String, appName: String, function: String, anchor: Date, lastTick: Date? = nil,
        lastCallID: String = ""
    ) {
        self.workspace = workspace
        self.appName = appName
        self.function = function
        self.anchor = anchor
        self.lastTick = lastTick
        self.lastCallID = lastCallID
    }
}
