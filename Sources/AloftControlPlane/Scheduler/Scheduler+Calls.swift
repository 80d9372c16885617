import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
import SwiftProtobuf

// Calls: a `.remote` invocation (one input, answered on its request), and calls with inputs of their own
// (spawned, mapped, detached, generators) kept in `calls` until they are done, with their results and waiters.

extension Scheduler {
    /// A call in memory, if `workspace` may use it.
    func call(_ id: String, in workspace: String) -> CallRecord? {
        guard let call = calls[id], call.workspace == workspace else { return nil }
        return call
    }

    /// A `.remote` call: one input, whose result answers the request.
    func invokeFunction(_ invoke: Aloft_V1_FunctionInvoke, workspace: String, replier: Replier) {
        guard let (pool, functionName) = registry.function(invoke.functionID, in: workspace) else {
            return replier.fail(AloftError(.notFound, "no function with id \(invoke.functionID) is registered"))
        }
        if let error = payloadError(invoke.data.count) { return replier.fail(error) }
        let connection = ObjectIdentifier(replier.channel)
        if let error = held.refusal(
            .init(inputs: 1, bytes: invoke.data.count), workspace: workspace, connection: connection,
            limits: configuration.inputLimits)
        {
            return replier.fail(error)
        }
        let owner = InputOwner.invoke(channel: replier.channel, requestID: replier.requestID, callID: invoke.callID)
        let input = InputRecord(
            id: makeID(), pool: pool, functionName: functionName, index: 0, data: invoke.data, owner: owner,
            connection: connection)
        if !invoke.callID.isEmpty { invocations[invoke.callID] = input }
        traceInvoke(input, callID: invoke.callID, headers: invoke.traceContext)
        enqueue(input)
        schedule(pool)
    }

    /// A call with its first inputs from a caller on the wire.
    func createCall(_ create: Aloft_V1_CallCreate, workspace: String, replier: Replier) {
        guard let (pool, functionName) = registry.function(create.functionID, in: workspace) else {
            return replier.fail(AloftError(.notFound, "no function with id \(create.functionID) is registered"))
        }
        for input in create.inputs {
            if let error = payloadError(input.data.count) { return replier.fail(error) }
        }
        guard CallID.isWellFormed(create.callID), calls[create.callID] == nil else {
            return replier.fail(AloftError(.protocolError, "call id '\(create.callID)' is malformed or already in use"))
        }
        let subscriber = create.kind == .map || create.kind == .generator ? replier.channel : nil
        let connection = ObjectIdentifier(replier.channel)
        let accept: @Sendable () -> Void = { [self] in
            // Checked when the call is made (a store's look-up may have let other inputs in meanwhile).
            if let error = held.refusal(
                .init(create.inputs), callID: create.callID, kind: create.kind, workspace: workspace,
                connection: connection, limits: configuration.inputLimits)
            {
                return replier.fail(error)
            }
            createCall(
                id: create.callID, kind: create.kind, functionID: create.functionID, pool: pool,
                functionName: functionName, inputs: create.inputs, last: create.last, subscriber: subscriber,
                connection: connection, traceContext: create.traceContext, accepted: replier.acknowledge)
        }
        // A finished call leaves memory once the store has it: its id stays taken as long as the store keeps it,
        // in every workspace.
        guard let store = configuration.store else { return accept() }
        let callID = create.callID
        let stored = loop.makePromise(of: Bool.self)
        stored.completeWithTask { try await store.call(id: callID) != nil }
        stored.futureResult.whenComplete { [self] result in
            switch result {
            case .success(false) where calls[callID] == nil:
                accept()
            case .success:
                replier.fail(AloftError(.protocolError, "call id '\(callID)' is already in use"))
            case .failure(let error):
                replier.fail(AloftError(.storeFailure, "the store failed to check call id \(callID): \(error)"))
            }
        }
    }

    /// Creates a call with its first inputs (from a caller on the wire or in this process); `accepted` runs once it
    /// is accepted: at once, or for a stored kind once the batch that holds it is stored.
    func createCall(
        id: String, kind: Aloft_V1_CallKind, functionID: UInt64, pool: FunctionPool, functionName: String,
        inputs: [Aloft_V1_Input], last: Bool, subscriber: (any WirePeer)?,
        localSubscriber: (@Sendable (Aloft_V1_Output) -> Void)? = nil, connection: ObjectIdentifier?,
        traceContext: [String: String] = [:], accepted: @escaping @Sendable (Result<Void, AloftError>) -> Void
    ) {
        let call = CallRecord(id: id, kind: kind, pool: pool, functionName: functionName)
        call.subscriber = subscriber
        call.localSubscriber = localSubscriber
        calls[call.id] = call
        traceCall(call, headers: traceContext)
        recentCalls.started(call, at: wallClock())
        for input in inputs { addInput(input, to: call, from: connection) }
        if last || kind == .spawn { call.closeInputs() }  // a spawn sends its one input here
        if isStored(call.kind) {
            record(
                .putCall(
                    StoredCall(
                        id: call.id, workspace: call.workspace, functionID: functionID, kind: call.kind.rawValue,
                        inputsClosed: !isOpen(call), createdAt: Date())))
            record(.putInputs(callID: call.id, inputs.map { StoredInput(index: $0.index, data: $0.data) }))
        }
        whenAccepted(call, accepted)
        schedule(pool)
    }

    private func isOpen(_ call: CallRecord) -> Bool {
        if case .open = call.inputs { true } else { false }
    }

    /// More inputs of a map or detached call; the last batch closes its inputs. A batch past the `InputLimits` is
    /// refused whole: an acknowledged one (`spawnMap`'s) gets `resourceExhausted` and changes nothing, so that it can
    /// be sent again; in a map's, each input fails with it.
    func putInputs(_ put: Aloft_V1_CallPutInputs, into call: CallRecord, replier: Replier) {
        let connection = ObjectIdentifier(replier.channel)
        var accepted = put.inputs.filter { $0.data.count <= configuration.maxPayloadBytes }
        if !call.isCancelled,
            let error = held.refusal(
                .init(accepted), callID: call.id, kind: call.kind,
                callHeld: .init(inputs: call.liveInputs.count, bytes: call.heldBytes), workspace: call.workspace,
                connection: connection, limits: configuration.inputLimits)
        {
            if replier.requestID != 0 { return replier.fail(error) }
            logger.notice(
                "refused a map's inputs", metadata: ["aloft.call_id": "\(call.id)", "aloft.reason": "\(error.message)"])
            for input in accepted { deliver(.failure(.failure, error), index: input.index, to: call) }
            accepted = []
        }
        for input in put.inputs {
            guard let error = payloadError(input.data.count) else { continue }
            deliver(.failure(.failure, error), index: input.index, to: call)
        }
        if !call.isCancelled {
            for input in accepted { addInput(input, to: call, from: connection) }
            if isStored(call.kind) {
                record(.putInputs(callID: call.id, accepted.map { StoredInput(index: $0.index, data: $0.data) }))
            }
            schedule(call.pool)
        }
        if put.last {
            call.closeInputs()
            if isStored(call.kind) { record(.closeInputs(callID: call.id)) }
            retireIfDone(call)
        }
        if replier.requestID != 0 { whenAccepted(call, replier.acknowledge) }
    }

    /// Runs `done` once what was recorded about `call` so far is stored (accepted means stored); if the store
    /// failed, the call is cancelled and `done` gets why.
    private func whenAccepted(_ call: CallRecord, _ done: @escaping @Sendable (Result<Void, AloftError>) -> Void) {
        whenStored { [self] stored in
            switch stored {
            case .success:
                done(.success(()))
            case .failure(let error):
                cancelCall(call)
                done(.failure(AloftError(.storeFailure, "the control plane could not store call \(call.id): \(error)")))
            }
        }
    }

    /// Cancels a call, or a `.remote` invocation that named a call id.
    func cancelRequested(callID: String, workspace: String, replier: Replier) {
        if let call = call(callID, in: workspace) {
            cancelCall(call)
        } else if let input = invocations[callID], input.pool.workspace == workspace {
            cancelInput(input, message: "call \(callID) was cancelled")
        } else {
            // A cancel pushed after its call finished is not an error worth a reply.
            if replier.requestID != 0 { replier.fail(AloftError(.notFound, "no call with id \(callID)")) }
            return
        }
        if replier.requestID != 0 { replier.send(.ack(.init())) }
    }

    func cancelCall(_ call: CallRecord) {
        guard !call.isCancelled else { return }
        call.inputs = .cancelled
        for input in Array(call.liveInputs.values) {
            cancelInput(input, message: "call \(call.id) was cancelled")
        }
        call.liveInputs.removeAll()
        retireIfDone(call)
        logger.debug("call cancelled", metadata: ["aloft.call_id": "\(call.id)"])
    }

    /// Takes a call that is done out of the table. Map and detached calls go at once. Spawned calls keep their
    /// results: in memory without a store, else in the store (and go once it has them).
    func retireIfDone(_ call: CallRecord) {
        guard call.isDone else { return }
        recentCallDone(call)
        traceCallDone(call)
        switch call.kind {
        case .spawn:
            guard isStored(.spawn) else { return }
            whenStored { [self] stored in
                guard case .success = stored, calls[call.id] === call, call.waiters.isEmpty, call.liveInputs.isEmpty
                else { return }
                calls[call.id] = nil
            }
        case .detached:
            if isStored(.detached) { record(.deleteCall(id: call.id)) }
            calls[call.id] = nil
        default:
            calls[call.id] = nil
        }
    }

    /// A result of one of `call`'s inputs reaches its caller: pushed to a map's or generator's caller, kept (and
    /// stored) for a spawned call's waiters, or only counted for a detached call.
    func deliver(_ result: Aloft_V1_Result, index: UInt64, to call: CallRecord) {
        switch call.kind {
        case .detached:
            if isStored(.detached) {
                record(.finishInput(callID: call.id, index: index, result: nil, expiresAt: Date()))
            }
        case .map, .generator:
            guard call.hasSubscriber else { return }
            var output = Aloft_V1_Output()
            output.index = index
            output.result = result
            output.done = call.kind == .generator
            push(output, to: call)
        default:
            call.results[index] = result
            if isStored(call.kind), let data = try? result.serializedBytes() as Data {
                record(.finishInput(callID: call.id, index: index, result: data, expiresAt: resultExpiry))
            }
            for waiter in call.removeWaiters(where: { $0.index == index }) { waiter.respond(result) }
        }
    }

    /// The error for an argument of `size` bytes, if it is over the inline limit.
    func payloadError(_ size: Int) -> AloftError? {
        guard size > configuration.maxPayloadBytes else { return nil }
        return AloftError(
            .payloadTooLarge,
            "argument of \(size) bytes exceeds the inline payload limit of \(configuration.maxPayloadBytes) bytes")
    }

    /// Function `id`'s backlog, running inputs and containers.
    func stats(ofFunction id: UInt64, workspace: String, replier: Replier) {
        guard let (pool, _) = registry.function(id, in: workspace) else {
            return replier.fail(AloftError(.notFound, "no function with id \(id) is registered"))
        }
        var stats = Aloft_V1_FunctionStats()
        stats.backlog =
            UInt64(pool.pending.count { inputs[$0].map { !$0.isAnswered } ?? false })
            + UInt64(pool.containers.values.reduce(0) { $0 + max(0, $1.assigned.count - $1.slots) })
        stats.runningInputs = UInt64(pool.containers.values.reduce(0) { $0 + min($1.assigned.count, $1.slots) })
        stats.containers = UInt64(pool.activeContainers)
        stats.unplaceable = pool.unplaceable ?? ""
        replier.send(.functionStats(stats))
    }
}
