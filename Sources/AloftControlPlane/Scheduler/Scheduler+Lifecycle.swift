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
        if configuration.store != nil, now - lastExpiry >= .minutes(1) {
            lastExpiry = now
            record(.expireResults(before: Date()))
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

    /// A connection closed: a container's ends it, a worker host's loses the host; a client's drops what only it
    /// was waiting for (spawned calls live on).
    /// Counts a new connection in; false (and the connection closed) when the control plane has as many as it
    /// takes.
    func connectionOpened(_ channel: any Channel) -> Bool {
        loop.assertInEventLoop()
        guard connections.count < configuration.maxConnections else {
            refusedConnections += 1
            if refusedConnections == 1 || refusedConnections.isMultiple(of: 1000) {  // logged, but not per connection
                logger.warning(
                    "refused a connection: at the connection limit",
                    metadata: [
                        "aloft.max_connections": "\(configuration.maxConnections)",
                        "aloft.refused": "\(refusedConnections)",
                    ])
            }
            channel.close(promise: nil)
            return false
        }
        connections[ObjectIdentifier(channel)] = channel
        return true
    }

    func connectionClosed(_ connection: ConnectionHandler, channel: any Channel) {
        loop.assertInEventLoop()
        connections[ObjectIdentifier(channel)] = nil
        logFollowers.remove(channel)
        sessionClosed(channel)
        switch connection.role {
        case .container: containerConnectionClosed(connection.containerID)
        case .worker: workerLost(channel, reason: "its connection closed")
        default: clientLeft(ObjectIdentifier(channel))
        }
    }

    private func clientLeft(_ key: ObjectIdentifier) {
        for input in inputs.values where !input.isAnswered {
            switch input.owner {
            case .invoke(let owner, _, _) where ObjectIdentifier(owner) == key:
                cancelInput(input, message: "the caller went away")
            case .call(let call)
            where (call.kind == .map || call.kind == .generator) && call.subscriber.map(ObjectIdentifier.init) == key:
                call.subscriber = nil
                cancelCall(call)
            default:
                break
            }
        }
        for call in calls.values { _ = call.removeWaiters { $0.channel == key } }
    }

    /// Stops every container and waits for them to exit (killing them after the grace period).
    func shutdown() -> EventLoopFuture<Void> {
        loop.assertInEventLoop()
        switch lifecycle {
        case .stopping(let promise): return promise.futureResult
        case .stopped(let future): return future
        case .running(let reaper):
            reaper?.cancel()
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
        for call in calls.values {
            for waiter in call.removeWaiters(where: { $0.channel == nil }) { waiter.respond(nil) }
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

    /// Closes every connection still open, once the control plane has stopped: a caller's connection then fails
    /// instead of talking to a scheduler that starts nothing.
    func closeConnections() {
        loop.assertInEventLoop()
        for channel in connections.values { channel.close(promise: nil) }
    }

    /// Completes a shutdown in progress, once.
    func finishShutdown() {
        guard case .stopping(let promise) = lifecycle else { return }
        lifecycle = .stopped(promise.futureResult)
        promise.succeed()
    }
}
