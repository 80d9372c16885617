import AloftWire
public import Foundation
import NIOCore

/// A call with inputs of its own (spawned, mapped, detached or a generator) as the dashboard shows it.
public struct CallSummary: Sendable, Hashable {
    public var id: String
    public var workspace: String
    public var app: String
    public var function: String
    /// `spawn`, `map`, `detached` or `generator`.
    public var kind: String
    public var started: Date
    /// When its last input was answered.
    public var finished: Date?
    /// Inputs so far (a map's grow as its caller sends them).
    public var inputs = 0
    public var succeeded = 0
    public var failed = 0
    public var cancelled = 0
    /// Retries its inputs used (after throws and timeouts).
    public var retries = 0
    /// The first error an input of it ended with.
    public var firstError: String?
    /// The result of a one-input call, as its JSON text, when it is small (at most 256 bytes).
    public var result: String?

    /// `running`, `succeeded`, `failed` (an input failed) or `cancelled`.
    public var status: String {
        if finished == nil { return "running" }
        if failed > 0 { return "failed" }
        if cancelled > 0 { return "cancelled" }
        return "succeeded"
    }

    /// Seconds from its start to its end (or to now, while it runs).
    public func duration(now: Date = Date()) -> Double { (finished ?? now).timeIntervalSince(started) }
}

/// A call's summary, shared by its record (which counts into it without a look-up) and `RecentCalls` (which keeps
/// it after the call is done).
final class CallTally: @unchecked Sendable {  // used on the loop
    var summary: CallSummary

    init(_ summary: CallSummary) {
        self.summary = summary
    }
}

/// The latest calls of each workspace, kept after they are done for the dashboard: at most `capacity` per
/// workspace, the oldest dropped first. Used on the loop.
struct RecentCalls {
    static let capacity = 500
    private var byID: [String: CallTally] = [:]
    private var order: [String: CircularBuffer<String>] = [:]

    /// Keeps `call`'s tally from now on.
    mutating func started(_ call: CallRecord, at now: Date) {
        let kind =
            switch call.kind {
            case .spawn: "spawn"
            case .map: "map"
            case .detached: "detached"
            case .generator: "generator"
            default: "call"
            }
        var ids = order[call.workspace, default: CircularBuffer()]
        if ids.count == Self.capacity { byID[ids.removeFirst()] = nil }
        ids.append(call.id)
        order[call.workspace] = ids
        let tally = CallTally(
            CallSummary(
                id: call.id, workspace: call.workspace, app: call.pool.appName, function: call.functionName,
                kind: kind, started: now))
        call.tally = tally
        byID[call.id] = tally
    }

    subscript(id: String) -> CallSummary? { byID[id]?.summary }

    /// The newest calls of `workspace` (of `app`, if given) first, at most `limit`.
    func calls(workspace: String, app: String?, limit: Int) -> [CallSummary] {
        var found: [CallSummary] = []
        for id in (order[workspace] ?? CircularBuffer()).reversed() {
            guard let summary = byID[id]?.summary, app == nil || summary.app == app else { continue }
            found.append(summary)
            if found.count == limit { break }
        }
        return found
    }
}

extension Scheduler {
    /// An input of `call` was answered with `result`.
    func recentCallAnswered(_ call: CallRecord, _ result: Aloft_V1_Result) {
        guard let tally = call.tally else { return }
        switch result.status {
        case .success:
            tally.summary.succeeded += 1
            if call.kind == .spawn, result.data.count <= 256 {
                tally.summary.result = String(decoding: result.data, as: UTF8.self)
            }
        case .cancelled: tally.summary.cancelled += 1
        default:
            tally.summary.failed += 1
            if tally.summary.firstError == nil { tally.summary.firstError = result.error.message }
        }
    }

    /// Every input `call` will have was answered.
    func recentCallDone(_ call: CallRecord) {
        guard let tally = call.tally, tally.summary.finished == nil else { return }
        tally.summary.finished = wallClock()
    }
}
