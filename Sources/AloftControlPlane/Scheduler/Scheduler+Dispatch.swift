import AloftWire
import NIOCore

// Scheduling a pool: start the containers its load asks for (`Autoscaler`), then hand queued inputs to container
// slots, least loaded first.

extension Scheduler {
    /// Starts the containers the load asks for, then hands queued inputs to container slots.
    func schedule(_ pool: FunctionPool) {
        if pool.isStopped && !pool.pending.isEmpty { failQueued(of: pool) }  // put back after its app stopped
        if pool.cancelledInBacklog > 0 {
            pool.pending = CircularBuffer(pool.pending.filter { inputs[$0].map { !$0.isAnswered } ?? false })
            pool.cancelledInBacklog = 0
        }
        var active = pool.activeContainers
        if isRunning, crashBackoffIsOver(pool) {
            let desired = desiredContainers(pool)
            let mayStart = Autoscaler.mayStart(
                consecutiveStartFailures: pool.consecutiveStartFailures,
                cap: configuration.maxConsecutiveStartFailures,
                hasBacklog: !pool.pending.isEmpty)
            while active < desired && mayStart {
                guard startContainer(for: pool) else { break }
                active += 1
            }
        }
        // Bursting past the target waits until every container the pool may have is up.
        let atLimit = active >= pool.maxContainers && !pool.containers.values.contains(where: \.isStarting)
        dispatch(pool, atLimit: atLimit, extra: 0)
        if !pool.pending.isEmpty && atLimit && configuration.prefetchPerContainer > 0 {
            dispatch(pool, atLimit: true, extra: configuration.prefetchPerContainer)
        }
    }

    /// False while a pool backs off starting containers after crashes; it is scheduled again when the backoff
    /// ends.
    private func crashBackoffIsOver(_ pool: FunctionPool) -> Bool {
        guard let notBefore = pool.restartNotBefore else { return true }
        guard loop.now < notBefore else {
            pool.restartNotBefore = nil
            return true
        }
        if pool.restartTimer == nil {
            pool.restartTimer = loop.scheduleTask(deadline: notBefore) { [self] in
                pool.restartTimer = nil
                schedule(pool)
            }
        }
        return false
    }

    func desiredContainers(_ pool: FunctionPool) -> Int {
        Autoscaler.desiredContainers(load: pool.load, knobs: pool.scaling, stopped: pool.isStopped)
    }

    /// Sends queued inputs to serving containers, least loaded first, up to `Autoscaler.inputLimit` each.
    private func dispatch(_ pool: FunctionPool, atLimit: Bool, extra: Int) {
        let knobs = pool.scaling
        while let inputID = pool.pending.first {
            guard let input = inputs[inputID], !input.isAnswered else {
                pool.pending.removeFirst()
                continue
            }
            var leastLoaded: ContainerRecord?
            var channel: (any WirePeer)?
            for candidate in pool.containers.values {
                guard case .serving(let connection) = candidate.state, !candidate.runsSuspect,
                    input.isSuspect
                        ? candidate.assigned.isEmpty
                        : candidate.assigned.count
                            < Autoscaler.inputLimit(
                                slots: candidate.slots, knobs: knobs, atLimit: atLimit, extra: extra),
                    candidate.assigned.count < leastLoaded?.assigned.count ?? .max
                else { continue }
                leastLoaded = candidate
                channel = connection
            }
            guard let container = leastLoaded, let channel else { break }
            pool.pending.removeFirst()
            input.state = .queued(on: container)
            container.assigned.append(input.id)
            container.recentInputs.sent(input)
            if input.isSuspect { container.runsSuspect = true }
            var dispatch = Aloft_V1_InputDispatch()
            dispatch.inputID = input.id
            dispatch.functionName = input.functionName
            dispatch.data = input.data
            traceDispatched(input, to: container, into: &dispatch)
            send(.inputDispatch(dispatch), on: channel)
            startTimeouts(on: container)
        }
    }
}
