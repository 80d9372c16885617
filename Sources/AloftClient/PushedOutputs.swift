import AloftCore
import AloftWire
import Foundation
import Logging
import Synchronization

/// Outputs of one map or generator call that the control plane pushed and the caller has not taken yet.
final class PushedOutputs: Sendable {
    private struct State {
        var byIndex: [UInt64: Aloft_V1_Result] = [:]
        var arrivalOrder: [UInt64] = []
        var waiter: CheckedContinuation<Void, Never>?
        var failure: AloftError?
        /// Counts deliveries, so a waiter sleeps until something new arrives (not merely while results are
        /// buffered that it cannot take yet, such as later indices of an ordered map).
        var generation: UInt64 = 0
        /// A generator's end, and how it ended.
        var end: Aloft_V1_Result?
    }
    private let state = Mutex(State())

    func receive(_ outputs: [Aloft_V1_Output]) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            for output in outputs {
                if output.done {
                    state.end = output.result
                } else if state.byIndex[output.index] == nil {
                    state.byIndex[output.index] = output.result
                    state.arrivalOrder.append(output.index)
                }
            }
            state.generation += 1
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func fail(_ error: AloftError) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.failure = error
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The next result to hand out, if it has arrived, and the delivery generation it was looked for in.
    func take(ordered: Bool, nextIndex: UInt64) -> (result: (UInt64, Aloft_V1_Result)?, generation: UInt64) {
        state.withLock { state in
            if ordered {
                guard let result = state.byIndex.removeValue(forKey: nextIndex) else { return (nil, state.generation) }
                return ((nextIndex, result), state.generation)
            }
            while !state.arrivalOrder.isEmpty {
                let index = state.arrivalOrder.removeFirst()
                if let result = state.byIndex.removeValue(forKey: index) { return ((index, result), state.generation) }
            }
            return (nil, state.generation)
        }
    }

    /// Whether the result of input `index` has arrived and waits to be taken.
    func isBuffered(_ index: UInt64) -> Bool { state.withLock { $0.byIndex[index] != nil } }

    /// Forgets a connection failure once the call carries on over a new connection.
    func clearFailure() { state.withLock { $0.failure = nil } }

    /// How a generator ended, once it has.
    var end: Aloft_V1_Result? { state.withLock { $0.end } }

    /// Waits until a delivery after `generation`, a connection failure, or cancellation.
    func waitForArrival(after generation: UInt64) async throws {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.generation != generation || state.failure != nil || state.end != nil || Task.isCancelled {
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
        if let failure = state.withLock({ $0.failure }) { throw failure }
        try Task.checkCancellation()
    }
}

/// Routes pushed `CallOutputs` to the map or generator call they belong to.
final class PushedOutputRouter: Sendable {
    static let shared = PushedOutputRouter()
    private static let printQueue = DispatchQueue(label: "aloft.container-output")
    /// Calls by id, with the key of the connection their outputs arrive on.
    private let maps = Mutex<[String: (connection: String, results: PushedOutputs)]>([:])

    /// Creates a call whose outputs are pushed to this connection (a map or a generator), routing them to the
    /// returned results before the request goes out, so that none is missed.
    func createCall(
        on connection: WireConnection, functionID: UInt64, kind: Aloft_V1_CallKind, inputs: [Aloft_V1_Input],
        last: Bool,
        results: PushedOutputs = PushedOutputs()
    ) async throws -> (callID: String, results: PushedOutputs) {
        let callID = CallID.make()
        maps.withLock { $0[callID] = (connection.key, results) }
        var create = Aloft_V1_CallCreate()
        create.functionID = functionID
        create.kind = kind
        create.callID = callID
        create.inputs = inputs
        create.last = last
        create.traceContext = TraceContext.headers()
        do {
            _ = try await connection.request(.callCreate(create))
        } catch {
            unregister(callID)
            throw error
        }
        return (callID, results)
    }
    func unregister(_ callID: String) { maps.withLock { $0[callID] = nil } }

    func route(_ envelope: Aloft_V1_Envelope) {
        switch envelope.body {
        case .callOutputs(let outputs):
            maps.withLock { $0[outputs.callID] }?.results.receive(outputs.outputs)
        case .containerOutput(let output):
            // Followed container output (`aloft run`): printed as the container printed it, off the event loop (a
            // full terminal pipe must not stall calls).
            Self.printQueue.async {
                let handle = output.standardError ? FileHandle.standardError : FileHandle.standardOutput
                try? handle.write(contentsOf: output.data)
            }
        default:
            break
        }
    }

    /// Fails the calls whose outputs were to arrive on the connection cached under `key`, which closed.
    func connectionClosed(_ key: String) {
        let affected = maps.withLock { $0.values.filter { $0.connection == key }.map(\.results) }
        for results in affected {
            results.fail(
                AloftError(.connectionFailed, "the connection to the control plane closed during a map or generator"))
        }
    }
}
