import AloftCore
import AloftWire
import Foundation
import NIOCore
import SwiftProtobuf

// Reading a call's results: from memory (waiting for one that is not there yet), else from the store.

extension Scheduler {
    /// Answers a request for result `index` of a call in `workspace`: from memory (waiting up to `timeoutMs`), else
    /// from the store; another workspace's call is as unknown as one that never was.
    func answerGet(
        callID: String, index: UInt64, workspace: String, timeoutMs: Int64, waiting: ObjectIdentifier?,
        respond: @escaping @Sendable (Aloft_V1_Result?) -> Void, fail: @escaping @Sendable (AloftError) -> Void
    ) {
        if let call = calls[callID] {
            guard call.workspace == workspace else { return fail(AloftError(.notFound, "no call with id \(callID)")) }
            getResult(of: call, index: index, timeoutMs: timeoutMs, waiting: waiting, respond: respond)
            return
        }
        storedResult(callID: callID, index: index, workspace: workspace) { found in
            switch found {
            case .success(let result): respond(result)
            case .failure(let error): fail(error)
            }
        }
    }

    /// Answers with result `index` of `call` when it is there, or when it arrives within `timeoutMs` (< 0: no
    /// limit), else with nil.
    private func getResult(
        of call: CallRecord, index: UInt64, timeoutMs: Int64, waiting channel: ObjectIdentifier?,
        respond: @escaping @Sendable (Aloft_V1_Result?) -> Void
    ) {
        if let result = call.results[index] { return respond(result) }
        if timeoutMs == 0 { return respond(nil) }
        var waiter = CallRecord.Waiter(id: makeID(), index: index, channel: channel, respond: respond)
        if timeoutMs > 0 {
            let waiterID = waiter.id
            waiter.timer = loop.scheduleTask(in: .milliseconds(timeoutMs)) {
                guard let position = call.waiters.firstIndex(where: { $0.id == waiterID }) else { return }
                call.waiters.remove(at: position).respond(nil)
            }
        }
        call.waiters.append(waiter)
    }

    /// The result of a call that is not in memory: finished before a restart, or forgotten once its result was
    /// stored. `notFound` when there is none (never accepted, or expired).
    private func storedResult(
        callID: String, index: UInt64, workspace: String,
        _ done: @escaping @Sendable (Result<Aloft_V1_Result, AloftError>) -> Void
    ) {
        let notFound = "no call with id \(callID)"
        guard let store = configuration.store else {
            let why = " (without a store, results live as long as the control plane that ran them)"
            return done(.failure(AloftError(.notFound, notFound + why)))
        }
        let lookup = loop.makePromise(of: Data?.self)
        lookup.completeWithTask {
            // Another workspace's call is as unknown as a call that never was.
            guard try await store.call(id: callID)?.workspace == workspace else { return nil }
            return try await store.result(callID: callID, index: index)
        }
        let retentionHours = Int(configuration.resultRetention.seconds / 3600)
        lookup.futureResult.whenComplete { result in
            switch result {
            case .success(let data?):
                guard let stored = try? Aloft_V1_Result(serializedBytes: data) else {
                    return done(
                        .failure(AloftError(.storeFailure, "the stored result of call \(callID) could not be decoded")))
                }
                done(.success(stored))
            case .success(nil):
                done(.failure(AloftError(.notFound, notFound + " (results are kept for \(retentionHours) hours)")))
            case .failure(let error):
                done(.failure(AloftError(.storeFailure, "the store failed to read call \(callID): \(error)")))
            }
        }
    }
}
