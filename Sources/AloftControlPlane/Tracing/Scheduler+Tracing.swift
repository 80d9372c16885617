import AloftWire
import NIOCore
import Tracing

// Where the scheduler opens and ends spans (CallTracing): each hook is a nil check when there is no tracer.
//
//   <caller's span>
//     └─ "f call"                          a call, from its arrival to its last answer
//          ├─ "container start"           a container started while the call waited (a cold start)
//          ├─ "queue wait"                per attempt: from the backlog to a container
//          └─ "run" / "retry"             per attempt: in the container, until its output; the body's own calls
//               └─ "g call" …             are children of it (its context travels with the input)

extension Scheduler {
    /// A `.remote` call's input (or the HTTP API's call of one): its call span is the input's own.
    func traceInvoke(_ input: InputRecord, callID: String, headers: [String: String]) {
        guard let tracing else { return }
        let span = tracing.callSpan(
            function: input.functionName, app: input.pool.appName, workspace: input.pool.workspace,
            callID: callID, kind: "remote", headers: headers)
        input.trace = InputTrace(call: span, ownCallSpan: span)
    }

    /// A call with inputs of its own.
    func traceCall(_ call: CallRecord, headers: [String: String]) {
        guard let tracing else { return }
        let kind =
            switch call.kind {
            case .spawn: "spawn"
            case .map: "map"
            case .detached: "spawn_map"
            case .generator: "generator"
            default: "call"
            }
        call.span = tracing.callSpan(
            function: call.functionName, app: call.pool.appName, workspace: call.workspace, callID: call.id,
            kind: kind, headers: headers)
    }

    /// One of a call's inputs: traced when it is among the first of its call.
    func traceInput(_ input: InputRecord, of call: CallRecord) {
        guard let span = call.span else { return }
        call.inputCount += 1
        guard input.index < CallTracing.tracedInputsPerCall else { return }
        input.trace = InputTrace(call: span)
    }

    /// An attempt of `input` joins the backlog (or waits out a retry's delay).
    func traceQueued(_ input: InputRecord) {
        guard let tracing, let trace = input.trace else { return }
        trace.endRun(tracing.ends, status: .failure, message: "its container was lost; it runs again")
        trace.attempts += 1
        trace.openQueueWait(tracing)
    }

    /// `input` was sent to a container that ended before it started: its run ends and it waits again, in the same
    /// attempt.
    func traceReturned(_ input: InputRecord) {
        guard let tracing, let trace = input.trace else { return }
        trace.endRun(tracing.ends, status: .failure, message: "its container ended before it started; it waits again")
        trace.openQueueWait(tracing)
    }

    /// `input` is sent to `container`: its queue wait ends and its run begins, and `dispatch` carries the run span's
    /// context.
    func traceDispatched(
        _ input: InputRecord, to container: ContainerRecord, into dispatch: inout Aloft_V1_InputDispatch
    ) {
        guard let tracing, let trace = input.trace else { return }
        trace.endQueueWait(tracing.ends)
        trace.endRun(tracing.ends, status: .failure, message: "sent again")  // none should be open; never leak one
        let span = tracing.childSpan(
            trace.attempts > 1 ? "retry" : "run", of: trace.call, kind: .consumer,
            attributes: [
                ("aloft.attempt", .int64(Int64(trace.attempts))), ("aloft.container_id", .string(container.id)),
                ("aloft.host", .string(container.worker?.name ?? "local")),
            ])
        trace.run = span
        tracing.carry(span, in: &dispatch)
    }

    /// The current attempt of `input` ended (an output, a timeout, its container lost).
    func traceAttemptEnded(_ input: InputRecord, status: Aloft_V1_Status, message: String = "") {
        guard let tracing, let trace = input.trace else { return }
        trace.endRun(tracing.ends, status: status, message: message)
    }

    /// `input` is answered: what is open of it ends, and a `.remote`'s call span with it.
    func traceAnswered(_ input: InputRecord, _ result: Aloft_V1_Result) {
        guard let tracing else { return }
        input.trace?.endAll(tracing.ends, status: result.status, message: result.error.message)
    }

    /// Every input of `call` was answered.
    func traceCallDone(_ call: CallRecord) {
        guard let tracing, let span = call.span else { return }
        call.span = nil
        span.set("aloft.inputs", .int64(Int64(call.inputCount)))
        tracing.ends.end(span, status: call.isCancelled ? .cancelled : .success)
    }

    /// The control plane stopped: every span still open ends (as an error: its call did not finish here), and all
    /// reach the tracer now, before the process's exporter shuts down; spans that end later are handed over at once.
    func traceShutdown() {
        guard let tracing else { return }
        let message = "the control plane stopped"
        for input in inputs.values { input.trace?.endAll(tracing.ends, status: .cancelled, message: message) }
        for call in calls.values {
            if let span = call.span { tracing.ends.end(span, status: .cancelled, message: message) }
            call.span = nil
        }
        for container in containers.values { traceContainerStarted(container, ok: false, reason: message) }
        tracing.ends.stopBatching()
    }

    /// A container starts for `pool`: a cold start of the call waiting longest, if it is traced.
    func traceContainerStarting(_ container: ContainerRecord) {
        guard let tracing else { return }
        let waiting = container.pool.pending.prefix(16).lazy.compactMap { self.inputs[$0]?.trace }.first
        guard let waiting else { return }
        container.startSpan = tracing.childSpan(
            "container start", of: waiting.call,
            attributes: [
                ("aloft.container_id", .string(container.id)),
                ("aloft.host", .string(container.worker?.name ?? "local")),
            ])
    }

    /// A container connected (`ok`) or ended before it did.
    func traceContainerStarted(_ container: ContainerRecord, ok: Bool, reason: String = "") {
        guard let tracing, let span = container.startSpan else { return }
        container.startSpan = nil
        tracing.ends.end(span, status: ok ? nil : .failure, message: reason)
    }
}
