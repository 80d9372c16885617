import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore

// Schedules on the loop: a deployment starts its functions' clocks, each tick spawns an ordinary call (stored with
// the tick, in one store batch, so that a restart never fires it again), a stopped app's schedules end, and a
// restarted control plane resumes from the last stored tick without back-filling (unless a schedule catches up).

extension Scheduler {
    /// Timers wake at most this far ahead and look again: the wall clock may move against the loop's.
    static let longestScheduleWait: TimeInterval = 600

    /// A deployment's schedules: the app's old ones end, each scheduled function of `manifest` starts its clock now
    /// (a redeployment restarts a period's clock, as Modal's does).
    func armSchedules(workspace: String, manifest: Aloft_V1_AppManifest) {
        disarmSchedules(workspace: workspace, appName: manifest.appName)
        let now = wallClock()
        for function in manifest.functions where function.options.hasSchedule {
            let stored = StoredSchedule(
                workspace: workspace, appName: manifest.appName, function: function.functionName, anchor: now)
            record(.putSchedule(stored))
            let schedule = Schedule(wire: function.options.schedule)
            arm(Schedules.Entry(schedule: schedule, stored: stored), at: Schedules.Key(stored))
            logger.info(
                "scheduled function",
                metadata: [
                    "aloft.app": "\(manifest.appName)", "aloft.function": "\(function.functionName)",
                    "aloft.schedule": "\(schedule)",
                ])
        }
    }

    /// An app's schedules end (it stopped, or another version is being made live).
    func disarmSchedules(workspace: String, appName: String) {
        schedules.removeAll(workspace: workspace, app: appName)
        record(.deleteSchedules(workspace: workspace, appName: appName))
    }

    /// Resumes the stored schedules of deployed functions (after `restore` registered them).
    func restoreSchedules(_ stored: [StoredSchedule]) {
        let now = wallClock()
        for row in stored {
            guard let schedule = scheduledFunction(Schedules.Key(row))?.pool.definition.options.schedule else {
                logger.warning(
                    "a stored schedule names no deployed scheduled function; dropped",
                    metadata: ["aloft.app": "\(row.appName)", "aloft.function": "\(row.function)"])
                continue
            }
            var entry = Schedules.Entry(schedule: schedule, stored: row)
            let key = Schedules.Key(row)
            let first = try? schedule.next(after: row.lastTick ?? row.anchor, anchor: row.anchor)
            if let first, first <= now {
                if schedule.catchUp {
                    // One run for every tick missed while the control plane was down; the ticks up to now are done.
                    entry.next = now
                    schedules[key] = entry
                    fireSchedule(key)
                    continue
                }
                logger.notice(
                    "ticks of a schedule fell while the control plane was down; they are not run (catchingUp() runs one)",
                    metadata: [
                        "aloft.app": "\(row.appName)", "aloft.function": "\(row.function)",
                        "aloft.missed_since": "\(first.formatted(.iso8601))",
                    ])
            }
            arm(entry, at: key)
        }
    }

    /// Ends every schedule's timer (the control plane is stopping); the store keeps where each one stands.
    func cancelScheduleTimers() {
        schedules.cancelAll()
    }

    /// The deployed, running function a schedule calls, if it still has one.
    private func scheduledFunction(_ key: Schedules.Key) -> (id: UInt64, pool: FunctionPool, name: String)? {
        guard let function = try? registry.named(workspace: key.workspace, app: key.app, function: key.function),
            function.pool.deployed
        else { return nil }
        return function
    }

    /// Sets the timer of `entry`'s next tick after now (and after its last tick).
    private func arm(_ entry: Schedules.Entry, at key: Schedules.Key) {
        var entry = entry
        entry.timer?.cancel()
        let now = wallClock()
        let after = max(now, entry.stored.lastTick ?? .distantPast)
        do {
            entry.next = try entry.schedule.next(after: after, anchor: entry.stored.anchor)
        } catch {
            logger.error(
                "no next tick for a schedule",
                metadata: ["aloft.function": "\(key.function)", "aloft.error": "\(error.message)"])
            entry.next = nil
            schedules[key] = entry
            return
        }
        let wait = min(max(0, entry.next!.timeIntervalSince(now)), Self.longestScheduleWait)
        entry.timer = loop.scheduleTask(in: .nanoseconds(Int64(wait * 1e9))) { [self] in fireSchedule(key) }
        schedules[key] = entry
    }

    /// A timer woke: if its tick is due, spawn the function's call and store the tick with it; then arm the next.
    private func fireSchedule(_ key: Schedules.Key) {
        guard isRunning, var entry = schedules[key], let tick = entry.next else { return }
        guard wallClock() >= tick else { return arm(entry, at: key) }
        guard let (id, pool, name) = scheduledFunction(key) else {
            schedules[key] = nil
            return
        }
        var metadata: Logger.Metadata = [
            "aloft.app": "\(key.app)", "aloft.function": "\(key.function)",
            "aloft.tick": "\(tick.formatted(.iso8601))",
        ]
        var input = Aloft_V1_Input()
        input.index = 0
        if let error = held.refusal(
            .init([input]), workspace: key.workspace, connection: nil, limits: configuration.inputLimits)
        {
            metadata["aloft.reason"] = "\(error.message)"
            logger.warning("a schedule's tick was not run: the workspace holds too many inputs", metadata: metadata)
        } else {
            let callID = CallID.make()
            entry.stored.lastCallID = callID
            metadata["aloft.call_id"] = "\(callID)"
            createCall(
                id: callID, kind: .spawn, functionID: id, pool: pool, functionName: name, inputs: [input], last: true,
                subscriber: nil, connection: nil
            ) { [logger] accepted in
                if case .failure(let error) = accepted {
                    logger.error(
                        "a schedule's call was not stored",
                        metadata: ["aloft.call_id": "\(callID)", "aloft.error": "\(error.message)"])
                }
            }
            logger.info("schedule fired", metadata: metadata)
        }
        // In the same store batch as the call: both are kept, or neither (then the tick is missed, never repeated).
        entry.stored.lastTick = max(tick, entry.stored.lastTick ?? tick)
        record(.putSchedule(entry.stored))
        arm(entry, at: key)
    }
}
