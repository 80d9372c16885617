import AloftCore
import AloftWire
import Foundation
import NIOCore

// Calls made in this process (the HTTP API): the same paths as the wire's, answered through promises.

extension Scheduler {
    /// Runs one input, as `.remote` does, and completes `promise` with its result.
    func invokeLocally(
        workspace: String, app: String, function name: String, payload: Data, promise: EventLoopPromise<Aloft_V1_Result>
    ) {
        loop.assertInEventLoop()
        do {
            let (_, pool, functionName) = try registry.named(workspace: workspace, app: app, function: name)
            if let error = payloadError(payload.count) { throw error }
            if let error = held.refusal(
                .init(inputs: 1, bytes: payload.count), workspace: workspace, connection: nil,
                limits: configuration.inputLimits)
            {
                throw error
            }
            let input = InputRecord(
                id: makeID(), pool: pool, functionName: functionName, index: 0, data: payload, owner: .local(promise),
                connection: nil)
            traceInvoke(input, callID: "", headers: [:])
            enqueue(input)
            schedule(pool)
        } catch {
            promise.fail(error)
        }
    }

    /// Spawns a call with one input, as `.spawn` does; succeeds with its id once it is accepted (stored, with a store).
    func spawnLocally(
        workspace: String, app: String, function name: String, payload: Data, promise: EventLoopPromise<String>
    ) {
        loop.assertInEventLoop()
        do {
            let (id, pool, functionName) = try registry.named(workspace: workspace, app: app, function: name)
            if let error = payloadError(payload.count) { throw error }
            let callID = CallID.make()
            var input = Aloft_V1_Input()
            input.data = payload
            if let error = held.refusal(
                .init([input]), workspace: workspace, connection: nil, limits: configuration.inputLimits)
            {
                throw error
            }
            createCall(
                id: callID, kind: .spawn, functionID: id, pool: pool, functionName: functionName, inputs: [input],
                last: true, subscriber: nil, connection: nil
            ) { accepted in
                promise.completeWith(accepted.map { callID }.mapError { $0 as any Error })
            }
        } catch {
            promise.fail(error)
        }
    }

    /// Starts a generator call with one input whose outputs go to `onOutput` (its items, then one with `done`);
    /// succeeds with the call's id once it is accepted.
    func streamLocally(
        workspace: String, app: String, function name: String, payload: Data,
        onOutput: @escaping @Sendable (Aloft_V1_Output) -> Void, promise: EventLoopPromise<String>
    ) {
        loop.assertInEventLoop()
        do {
            let (id, pool, functionName) = try registry.named(workspace: workspace, app: app, function: name)
            if let error = payloadError(payload.count) { throw error }
            let callID = CallID.make()
            var input = Aloft_V1_Input()
            input.data = payload
            if let error = held.refusal(
                .init([input]), callID: callID, kind: .generator, workspace: workspace, connection: nil,
                limits: configuration.inputLimits)
            {
                throw error
            }
            createCall(
                id: callID, kind: .generator, functionID: id, pool: pool, functionName: functionName,
                inputs: [input], last: true, subscriber: nil, localSubscriber: onOutput, connection: nil
            ) { accepted in
                promise.completeWith(accepted.map { callID }.mapError { $0 as any Error })
            }
        } catch {
            promise.fail(error)
        }
    }

    /// Cancels a call started in this process whose outputs nobody takes any more.
    func cancelLocally(callID: String) {
        loop.assertInEventLoop()
        guard let call = calls[callID] else { return }
        call.localSubscriber = nil
        cancelCall(call)
    }

    /// Result `index` of a spawned call, waiting up to `timeoutMs` (< 0: no limit); nil if it is not ready by then.
    func resultLocally(
        workspace: String, callID: String, index: UInt64, timeoutMs: Int64, promise: EventLoopPromise<Aloft_V1_Result?>
    ) {
        loop.assertInEventLoop()
        answerGet(
            callID: callID, index: index, workspace: workspace, timeoutMs: timeoutMs, waiting: nil,
            respond: { promise.succeed($0) }, fail: { promise.fail($0) })
    }
}
