import AloftCore
import AloftWire
import Logging
import NIOCore

// How containers end: their process exits, their connection closes, their worker host is lost, or the scheduler
// kills them. The inputs they ran go back to the backlog, run again, or fail. A crash of the function's own code
// (the container died while it served, its host fine, nobody having stopped it) counts against the inputs it was
// running and backs its pool off; a lost host or a stop does not.

extension Scheduler {
    /// A container's process ended with `status` (128 + n: killed by signal n; -1: it could not start, `reason`
    /// says why), with `outOfMemory` when the kernel killed it at its memory limit. A connected container's last
    /// outputs may still be in its connection, unread: the close that follows them ends it (or, at the latest, a
    /// moment later).
    func containerProcessExited(_ containerID: String, status: Int32, reason: String? = nil, outOfMemory: Bool = false)
    {
        loop.assertInEventLoop()
        guard let container = containers[containerID] else { return }
        container.exitStatus = status
        container.killedAtMemoryLimit = outOfMemory
        let reason = reason ?? "exited"
        guard container.channel != nil else { return containerEnded(containerID, .died, reason: reason) }
        loop.scheduleTask(in: .seconds(2)) { [self] in containerEnded(containerID, .died, reason: reason) }
    }

    /// A container's connection closed. One that was running inputs, and whose process is not known to have
    /// exited yet, waits up to a second for the exit: its status tells what happened, in the inputs' error too.
    func containerConnectionClosed(_ containerID: String) {
        guard let container = containers[containerID] else { return }
        guard container.isServing, container.exitStatus == nil, !container.assigned.isEmpty else {
            return containerEnded(containerID, .died, reason: "closed its connection")
        }
        container.state = .disconnected
        loop.scheduleTask(in: .seconds(1)) { [self] in
            containerEnded(containerID, .died, reason: "closed its connection")
        }
    }

    /// A container is gone. Its inputs go back to the backlog, run again or fail; a pool whose containers keep
    /// failing to start fails its backlog.
    func containerEnded(_ containerID: String, _ end: ContainerRecord.End, reason: String) {
        guard let container = containers.removeValue(forKey: containerID) else { return }
        let pool = container.pool
        pool.containers[containerID] = nil
        container.startupTimer?.cancel()
        container.deadlines.timer?.scheduled.cancel()
        container.handle?.kill()  // the connection may close before the process exits
        // a container declared gone (its worker host was lost) can no longer report
        container.channel?.close()
        container.worker?.containers.remove(containerID)
        scheduleWaitingForRoom()  // a slot, and what it requested, are free on its host
        let reason = end == .died ? container.exitDescription ?? reason : reason
        traceContainerStarted(container, ok: false, reason: "the container \(reason)")
        let crashed = end == .died && (container.isServing || container.isDisconnected)
        if container.isStarting {
            pool.consecutiveStartFailures += 1
            pool.lastStartFailure = reason
            logger.warning(
                "container exited before connecting",
                metadata: ["aloft.container_id": "\(containerID)", "aloft.reason": "\(reason)"])
        } else if crashed {
            pool.consecutiveCrashes += 1
            pool.restartNotBefore = loop.now + Autoscaler.crashBackoff(consecutiveCrashes: pool.consecutiveCrashes)
            logger.warning(
                "container crashed",
                metadata: [
                    "aloft.container_id": "\(containerID)", "aloft.function": "\(pool.name)",
                    "aloft.reason": "\(reason)", "aloft.inputs": "\(container.assigned.count)",
                    "aloft.crashes_in_a_row": "\(pool.consecutiveCrashes)",
                ])
        } else {
            logger.debug(
                "container gone", metadata: ["aloft.container_id": "\(containerID)", "aloft.reason": "\(reason)"])
        }
        putBack(inputsOf: container, reason: reason, crashed: crashed)
        if pool.consecutiveStartFailures >= configuration.maxConsecutiveStartFailures {
            failPending(of: pool)
        }
        if containers.isEmpty { finishShutdown() }
        schedule(pool)
    }

    /// A container runs its inputs in the order they were sent: the first `slots` were running, the rest only
    /// queued on it. The queued ones go back to the front of the backlog. The running ones: after a crash, see
    /// `ranWhenCrashed`; else they run again at once, at the front, without using a retry (Modal's
    /// internal-failure rule), up to a cap.
    private func putBack(inputsOf container: ContainerRecord, reason: String, crashed: Bool) {
        let pool = container.pool
        for inputID in container.assigned.dropFirst(container.slots).reversed() {
            guard let input = inputs[inputID] else { continue }
            if input.isAnswered {
                inputs[inputID] = nil  // its owner already has an answer (cancelled, or the caller left)
            } else {
                input.move(to: .waiting)
                pool.pending.prepend(inputID)
                traceReturned(input)
            }
        }
        for inputID in container.assigned.prefix(container.slots).reversed() {
            guard let input = inputs.removeValue(forKey: inputID), !input.isAnswered else { continue }
            input.move(to: .waiting)
            if crashed {
                ranWhenCrashed(input, in: container, reason: reason)
            } else if input.internalRetries < configuration.maxInternalFailureRetries && !input.isGenerator {
                input.internalRetries += 1
                requeue(input)
            } else {
                let message =
                    "container \(container.id) of function '\(pool.name)' \(reason) while running this input "
                    + "(it had already been re-run \(input.internalRetries) times after lost containers)"
                answer(input, with: .failure(.internalFailure, AloftError(.internalFailure, message)))
            }
        }
        container.assigned.removeAll()
    }

    /// `input` was running in `container` when it crashed. It runs again, alone in a container and after a
    /// growing delay at the back of the backlog, up to `maxCrashRetries` times (a generator never: its items
    /// reached the caller); then it fails with `containerCrashed`, quoting the container's last lines. A container
    /// killed at its memory limit fails its inputs with `outOfMemory` at once: run again, they would most likely
    /// use as much.
    private func ranWhenCrashed(_ input: InputRecord, in container: ContainerRecord, reason: String) {
        if container.killedAtMemoryLimit {
            let limit = container.memory.limit.map { "\($0) MiB" } ?? "its limit"
            let message =
                "container \(container.id) of function '\(container.pool.name)' was killed for going over its memory "
                + "limit of \(limit) while running this input; raise it with FunctionOptions(memory:)"
            answer(input, with: .failure(.failure, AloftError(.outOfMemory, message)))
            return
        }
        input.crashes += 1
        guard input.crashes > configuration.maxCrashRetries || input.isGenerator else {
            requeue(input, after: Autoscaler.crashRerunDelay(crashes: input.crashes))
            return
        }
        var message =
            "container \(container.id) of function '\(container.pool.name)' crashed while running this input: it "
            + reason
        if input.crashes > 1 { message += " (the input ran \(input.crashes) times; each time its container crashed)" }
        let lines = container.outputTail.snapshot
        message +=
            lines.isEmpty
            ? "; it printed nothing" : "; its last output:\n" + lines.map { "  " + $0 }.joined(separator: "\n")
        answer(input, with: .failure(.failure, AloftError(.containerCrashed, message)))
    }

    private func failPending(of pool: FunctionPool) {
        let error = AloftError(
            .internalFailure,
            """
            containers of function '\(pool.name)' failed to start \(pool.consecutiveStartFailures) times in a row \
            (last: \(pool.lastStartFailure)); see the container output above
            """)
        while let inputID = pool.pending.popFirst() {
            guard let input = inputs.removeValue(forKey: inputID), !input.isAnswered else { continue }
            answer(input, with: .failure(.internalFailure, error))
        }
        // The count stays: only a container that connects resets it, so a broken executable is not restarted
        // just to keep the warm floor, and each later input gets one more try.
    }
}
