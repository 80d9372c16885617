import AloftWire
import Foundation
import Logging
import NIOCore

// The scheduler's life: the reaper's rounds while it runs, what a closed connection leaves behind, and shutdown.

extension Scheduler {
    func startReaper() {
        loop.assertInEventLoop()
        guard case .running = lifecycle else { return }
        let reaper = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .milliseconds(500)) { [self] _ in
            reap()
        }
        lifecycle = .running(reaper: reaper)
    }

    /// One round of the reaper: lost worker hosts, expired results, idle containers past their scaledown window.
    func reap() {
        let now = loop.now
        expireWorkerLeases(now: now)
        recheckTokensIfDue(now: now)
        closeIdleClientsIfDue(now: now)
        if now - lastExpiry >= .minutes(1) {
            lastExpiry = now
            if configuration.store != nil { record(.expireResults(before: Date())) }
            expireDictEntries(now: Date())
            expireQueuePartitions(now: Date())
        }
        for pool in registry.pools.values {
            let idle = pool.containers.values
                .filter { $0.isServing && $0.assigned.isEmpty }
                .map { (container: $0, idleFor: now - $0.idleSince) }
                .sorted { $0.idleFor > $1.idleFor }
            let toStop = Autoscaler.idleToStop(
                idle, active: pool.activeContainers, desired: desiredContainers(pool),
                window: pool.scaledownWindow)
            for container in toStop {
                logger.debug("stopping idle container", metadata: ["aloft.container_id": "\(container.id)"])
                stop(container)
            }
        }
    }

    /// Stops every container and waits for them to exit (killing them after the grace period).
    func shutdown() -> EventLoopFuture<Void> {
        loop.assertInEventLoop()
        switch lifecycle {
        case .stopping(let promise): return promise.futureResult
        case .stopped(let future): return future
        case .running(let reaper):
            reaper?.cancel()
            cancelScheduleTimers()
            let promise = loop.makePromise(of: Void.self)
            lifecycle = .stopping(promise)
            beginShutdown()
            return promise.futureResult
        }
    }

    private func beginShutdown() {
        logger.info("control plane stopping containers", metadata: ["aloft.containers": "\(containers.count)"])
        // In-process callers (the HTTP API) are answered now, so that their requests end and the server can stop.
        for input in Array(inputs.values) where !input.isAnswered {
            if case .local = input.owner { cancelInput(input, message: "the control plane is stopping") }
        }
        for call in Array(calls.values) {
            for waiter in call.removeWaiters(where: { $0.channel == nil }) { waiter.respond(nil) }
            if call.localSubscriber != nil { cancelCall(call) }  // a web handler's response ends
        }
        guard !containers.isEmpty else { return finishShutdown() }
        for container in containers.values { stop(container) }
        // Every container was killed after the grace period; one whose exit is never reported must not keep the
        // control plane from stopping.
        loop.scheduleTask(in: TimeAmount(configuration.containerStopGrace) + .seconds(5)) { [self] in
            guard !containers.isEmpty else { return }
            logger.warning(
                "containers not seen to exit; stopping anyway",
                metadata: ["aloft.containers": "\(containers.keys.sorted())"])
            for container in containers.values { container.handle?.kill() }
            finishShutdown()
        }
    }

    /// Completes a shutdown in progress, once.
    func finishShutdown() {
        guard case .stopping(let promise) = lifecycle else { return }
        lifecycle = .stopped(promise.futureResult)
        traceShutdown()  // the last spans reach the tracer before the process's exporter shuts down
        promise.succeed()
    }
}
