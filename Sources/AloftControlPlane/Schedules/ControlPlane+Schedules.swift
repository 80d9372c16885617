import AloftCore
import AloftWire
import Foundation
import NIOCore
import SwiftProtobuf

// Schedules for the HTTP API (`/v1/apps/{app}/schedules`, `aloft app list`): where each one stands, with how its
// last run ended.

extension ControlPlane {
    /// Every schedule of a deployed, live function of `workspace` (of `app`, if given), by app, then function.
    public func schedules(workspace: String = "", app: String? = nil) async throws -> [ScheduleStatus] {
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: [(ScheduleStatus, running: Bool)].self)
        state.loop.execute {
            let listed = state.schedules.entries
                .filter { key, _ in key.workspace == workspace && (app == nil || key.app == app) }
                .sorted { ($0.key.app, $0.key.function) < ($1.key.app, $1.key.function) }
                .map { key, entry in
                    let call = entry.stored.lastCallID
                    return (
                        ScheduleStatus(
                            appName: key.app, function: key.function, schedule: entry.schedule, nextRun: entry.next,
                            lastRun: entry.stored.lastTick, lastCallID: call.isEmpty ? nil : call, lastOutcome: nil),
                        running: !call.isEmpty && state.calls[call] != nil
                    )
                }
            promise.succeed(listed)
        }
        var statuses: [ScheduleStatus] = []
        for (var status, running) in try await promise.futureResult.get() {
            if let call = status.lastCallID {
                status.lastOutcome = running ? .running : try await outcome(ofScheduledCall: call)
            }
            statuses.append(status)
        }
        return statuses
    }

    private func outcome(ofScheduledCall callID: String) async throws -> ScheduleStatus.Outcome {
        guard let store = configuration.store, let bytes = try await store.result(callID: callID, index: 0),
            let result = try? Aloft_V1_Result(serializedBytes: bytes)
        else { return .unknown }
        return result.status == .success ? .succeeded : .failed(result.aloftError.message)
    }
}
