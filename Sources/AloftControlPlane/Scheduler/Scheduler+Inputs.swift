import AloftCore
import AloftWire
import CoreMetrics
import Logging
import NIOCore

// An input through its attempts: queued, sent to a container, running against its timeout, then answered, retried
// (a user error or timeout, with backoff) or re-run (its container was lost), or cancelled.

extension Scheduler {
    func addInput(_ input: Aloft_V1_Input, to call: CallRecord, from connection: ObjectIdentifier?) {
        let record = InputRecord(
            id: makeID(), pool: call.pool, functionName: call.functionName, index: input.index,
            data: input.data, owner: .call(call), connection: connection)
        call.liveInputs[ObjectIdentifier(record)] = record
        call.tally?.summary.inputs += 1
        traceInput(record, of: call)
        enqueue(record)
    }

    func enqueue(_ input: InputRecord) {
        held.add(input)
        input.isHeld = true
        inputs[input.id] = input
        input.queuedAt = loop.now
        input.pool.pending.append(input.id)
        traceQueued(input)
    }

    /// A container finished an attempt. An unknown id is an earlier attempt's (its input timed out, was retried or
    /// cancelled): dropped.
    func outputArrived(_ output: Aloft_V1_OutputPut, from containerID: String) {
        if let container = containers[containerID] {
            if let position = container.assigned.firstIndex(of: output.inputID) {
                container.assigned.remove(at: position)
            }
            if container.assigned.isEmpty {
                container.idleSince = loop.now
                container.runsSuspect = false
            }
            container.pool.consecutiveCrashes = 0  // it serves: a crash loop, if there was one, is over
            container.served += 1
            startTimeouts(on: container)
        }
        guard let input = inputs.removeValue(forKey: output.inputID) else { return }
        traceAttemptEnded(input, status: output.result.status, message: output.result.error.message)
        if input.isAnswered {
            input.move(to: .answered)
        } else {
            input.move(to: .waiting)
            attemptEnded(input, with: output.result)
        }
        schedule(input.pool)
    }

    /// An item of a generator: pushed to its caller at once (the generator's input is still running).
    func generatorItemArrived(_ item: Aloft_V1_GeneratorItem) {
        guard let input = inputs[item.inputID], !input.isAnswered else { return }
        guard input.isGenerator else {
            // A generator called as a plain function (`.remote`, HTTP `/call`): its items would be lost.
            let message =
                "'\(input.functionName)' is a generator: iterate its items with remoteStream (over HTTP, only as a web handler)"
            return stopInput(input, answering: .failure(.failure, AloftError(.invalidArgument, message)))
        }
        guard case .call(let call) = input.owner, call.hasSubscriber else { return }
        var output = Aloft_V1_Output()
        output.index = item.index
        output.result = .success(Array(item.data))
        push(output, to: call)
    }

    /// Retries a failed attempt if its function allows it, else gives the owner the result.
    func attemptEnded(_ input: InputRecord, with result: Aloft_V1_Result) {
        let pool = input.pool
        let retryable =
            result.status == .timeout
            || (result.status == .failure
                && (result.error.code.isEmpty || result.error.code == AloftError.Code.remoteError.rawValue))
        guard retryable, input.retries < pool.options.retries.maxRetries, !input.isGenerator else {
            return answer(input, with: result)
        }
        input.retries += 1
        pool.metrics.retried.increment()
        if case .call(let call) = input.owner { call.tally?.summary.retries += 1 }
        logger.debug("retrying input", metadata: ["aloft.function": "\(pool.name)", "aloft.retry": "\(input.retries)"])
        requeue(input, after: pool.retryDelay(input.retries))
    }

    /// Queues another attempt of `input` under a new id: at the front of the backlog at once, or at the back
    /// after `delay`.
    func requeue(_ input: InputRecord, after delay: TimeAmount = .zero) {
        input.id = makeID()
        input.move(to: .waiting)
        inputs[input.id] = input
        input.queuedAt = loop.now
        traceQueued(input)
        guard delay > .zero else {
            input.pool.pending.prepend(input.id)
            return
        }
        let attemptID = input.id
        loop.scheduleTask(in: delay) { [self] in
            guard inputs[attemptID] === input, !input.isAnswered else { return }
            input.queuedAt = loop.now
            input.pool.pending.append(attemptID)
            schedule(input.pool)
        }
    }

    /// Ends an input as cancelled: its owner is told now; it is never retried; if a container has it, the
    /// container is asked to stop it, and is stopped itself if the input is still there after the grace period.
    func cancelInput(_ input: InputRecord, message: String) {
        stopInput(input, answering: .failure(.cancelled, AloftError(.cancelled, message)))
    }

    /// Answers `input` with `result` now and stops it where it runs (see `cancelInput`).
    func stopInput(_ input: InputRecord, answering result: Aloft_V1_Result) {
        guard !input.isAnswered else { return }
        let container = input.container
        answer(input, with: result)
        guard let container, let channel = container.channel else {
            inputs[input.id] = nil  // still in the backlog (or waiting to retry): it never runs
            input.pool.cancelledInBacklog += 1
            return
        }
        var cancel = Aloft_V1_InputCancel()
        cancel.inputIds = [input.id]
        send(.inputCancel(cancel), on: channel)
        let attemptID = input.id
        loop.scheduleTask(in: TimeAmount(configuration.cancellationGrace)) { [self] in
            guard containers[container.id] === container, container.assigned.contains(attemptID) else { return }
            logger.info(
                "cancelled input still running after the grace period; stopping its container",
                metadata: ["aloft.container_id": "\(container.id)"])
            container.handle?.kill()
            containerEnded(container.id, .killed, reason: "was stopped because a cancelled input did not stop")
        }
    }

    /// Gives an input's owner its result. The input must already be out of `inputs`, or stay there answered (a
    /// cancelled input its container still runs).
    func answer(_ input: InputRecord, with result: Aloft_V1_Result) {
        input.move(to: .answered)
        metricsInputAnswered(input, result.status)
        traceAnswered(input, result)
        if input.isHeld {
            held.remove(input)
            input.isHeld = false
            input.releaseData()
        }
        switch input.owner {
        case .invoke(let channel, let requestID, let callID):
            if !callID.isEmpty { invocations[callID] = nil }
            var reply = Aloft_V1_InvokeResult()
            reply.result = result
            send(.invokeResult(reply), requestID: requestID, on: channel)
        case .call(let call):
            call.liveInputs[ObjectIdentifier(input)] = nil
            recentCallAnswered(call, result)
            deliver(result, index: input.index, to: call)
            retireIfDone(call)
        case .local(let promise):
            promise.succeed(result)
        }
    }
}
