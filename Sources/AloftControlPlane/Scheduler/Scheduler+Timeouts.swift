import AloftCore
import AloftWire
import Logging
import NIOCore

// Each attempt's timeout: the inputs running in a container keep their deadlines in the container's
// `InputDeadlines`, under one timer armed for the earliest.

extension Scheduler {
    /// Starts the per-attempt timeout of the inputs a container is running (the first `slots` it was sent).
    func startTimeouts(on container: ContainerRecord) {
        let now = loop.now
        for inputID in container.assigned.prefix(container.slots) {
            guard let input = inputs[inputID], case .queued = input.state else { continue }
            let deadline = now + container.timeout
            input.state = .running(on: container, deadline: deadline)
            container.deadlines.append(.init(deadline: deadline, input: input, attemptID: inputID))
            armDeadline(of: container, at: deadline)
            metricsInputStarted(input)
        }
    }

    /// Arms the container's timer for `deadline`, unless it fires before then already.
    private func armDeadline(of container: ContainerRecord, at deadline: NIODeadline) {
        if let timer = container.deadlines.timer {
            guard deadline < timer.at else { return }
            timer.scheduled.cancel()
        }
        let scheduled = loop.scheduleTask(deadline: deadline) { [self] in deadlineCame(on: container) }
        container.deadlines.timer = (scheduled, deadline)
    }

    /// The container's timer fired: the earliest input still running there timed out if its deadline has passed;
    /// else the timer waits for it.
    private func deadlineCame(on container: ContainerRecord) {
        container.deadlines.timer = nil
        guard containers[container.id] === container,
            let first = container.deadlines.first(runningOn: container)
        else { return }
        guard first.deadline <= loop.now else { return armDeadline(of: container, at: first.deadline) }
        timedOut(first.input, attemptID: first.attemptID, after: container.timeout, on: container)
    }

    /// An attempt ran past its timeout: it ends as a timeout (retried if the function allows), and its container
    /// is stopped, since the input may still be running there.
    private func timedOut(
        _ input: InputRecord, attemptID: UInt64, after timeout: TimeAmount, on container: ContainerRecord
    ) {
        guard inputs[attemptID] === input, !input.isAnswered else { return }
        inputs[attemptID] = nil  // it keeps its place in `container.assigned`, so the teardown below counts right
        input.state = .waiting
        logger.info(
            "input timed out; stopping its container",
            metadata: ["aloft.function": "\(input.pool.name)", "aloft.container_id": "\(container.id)"])
        let seconds = Double(timeout.nanoseconds) / 1e9
        let message =
            "function '\(input.pool.name)' timed out after \(seconds) s (attempt \(input.retries + 1)) in container \(container.id)"
        traceAttemptEnded(input, status: .timeout, message: message)
        attemptEnded(input, with: .failure(.timeout, AloftError(.timeout, message)))
        container.handle?.kill()
        containerEnded(container.id, .killed, reason: "was stopped after an input timed out")
    }
}
