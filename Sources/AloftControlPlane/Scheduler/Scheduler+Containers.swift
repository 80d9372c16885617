import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
import Synchronization

// Containers from start to end: started here or on a worker host, connected, stopped, and ended (its process
// exited, its connection closed, or its worker host was lost), with their inputs put back or failed.

extension Scheduler {
    /// Starts a container where there is room; false when there is none (see `placement(for:)`).
    func startContainer(for pool: FunctionPool) -> Bool {
        guard let placement = placement(for: pool) else {
            noRoom(for: pool)
            return false
        }
        workers.waitingForRoom[ObjectIdentifier(pool)] = nil
        let container = ContainerRecord(id: "ctr-" + randomHex(), pool: pool, now: loop.now)
        let spec = containerSpec(for: container)
        containers[container.id] = container
        pool.containers[container.id] = container
        logger.debug(
            "starting container", metadata: ["aloft.container_id": "\(container.id)", "aloft.function": "\(pool.name)"])
        switch placement {
        case .worker(let worker):
            startRemotely(container, spec: spec, on: worker)
        case .local:
            do {
                container.handle = try configuration.containerRuntime.start(spec) { [self] status in
                    guard !loopClosing.load(ordering: .sequentiallyConsistent) else { return }
                    loop.execute { self.containerProcessExited(container.id, reason: "exited with status \(status)") }
                }
            } catch {
                containerEnded(container.id, reason: "could not be started: \(error)")
                return true
            }
        }
        container.startupTimer = loop.scheduleTask(in: pool.startupTimeout) { [self] in
            guard container.isStarting else { return }
            logger.warning(
                "container did not connect within its startup timeout",
                metadata: ["aloft.container_id": "\(container.id)"])
            container.handle?.kill()
        }
        return true
    }

    private func containerSpec(for container: ContainerRecord) -> ContainerSpec {
        let pool = container.pool
        var environment = [AloftEnvironment.controlPlaneAddress: address, AloftEnvironment.containerID: container.id]
        if configuration.authenticator != nil {
            environment[AloftEnvironment.token] = "ctr:\(container.id):\(container.clientSecret)"
        }
        if !pool.definition.artifact.isEmpty { environment[AloftEnvironment.artifact] = pool.definition.artifact }
        if !pool.className.isEmpty {
            environment[AloftEnvironment.className] = pool.className
            environment[AloftEnvironment.classParameters] = pool.classParameters.base64EncodedString()
        }
        var spec = ContainerSpec(
            containerID: container.id, appName: pool.appName, functionName: pool.name,
            executable: pool.definition.executable, arguments: pool.definition.arguments,
            environment: environment)
        spec.onOutput = { [self, id = container.id] lines, standardError in
            guard logFollowers.hasFollowers, !loopClosing.load(ordering: .sequentiallyConsistent) else { return }
            var output = Aloft_V1_ContainerOutput()
            output.containerID = id
            output.data = lines
            output.standardError = standardError
            loop.execute { [output] in self.containerPrinted(output) }
        }
        return spec
    }

    /// False (and the connection closed) for an unknown container id or one that is already connected.
    func isExpectedContainer(_ containerID: String, channel: any Channel) -> Bool {
        guard let container = containers[containerID], container.channel == nil else {
            logger.warning(
                "unknown or duplicate container connected", metadata: ["aloft.container_id": "\(containerID)"])
            channel.close(promise: nil)
            return false
        }
        return true
    }

    func containerConnected(_ containerID: String, channel: any Channel) {
        guard let container = containers[containerID] else { return }
        container.connected(channel)
        container.idleSince = loop.now
        container.startupTimer?.cancel()
        container.pool.consecutiveStartFailures = 0
        if container.isStopping {
            send(.containerStop(.init()), on: channel)  // stopped while it started (its kill may not have reached it)
        } else if !isRunning {
            stop(container)
        } else {
            schedule(container.pool)
        }
    }

    /// Asks a container to finish what it was sent and exit; kills it after `grace` (default: the control plane's
    /// stop grace).
    func stop(_ container: ContainerRecord, grace: TimeAmount? = nil) {
        guard !container.isStopping else { return }
        // A container that has not connected yet has nothing to finish (and may still ignore SIGTERM, inherited from
        // a caller that handles it): it is killed.
        if let channel = container.channel {
            send(.containerStop(.init()), on: channel)
        } else {
            container.handle?.kill()
        }
        container.state = .stopping(connection: container.channel)
        loop.scheduleTask(in: grace ?? TimeAmount(configuration.containerStopGrace)) {
            container.handle?.kill()
        }
    }

    /// A container's process ended. A connected container's last outputs may still be in its connection, unread:
    /// the close that follows them ends it (or, at the latest, a moment later).
    func containerProcessExited(_ containerID: String, reason: String) {
        loop.assertInEventLoop()
        guard let container = containers[containerID] else { return }
        guard container.channel != nil else { return containerEnded(containerID, reason: reason) }
        loop.scheduleTask(in: .seconds(2)) { [self] in containerEnded(containerID, reason: reason) }
    }

    /// A container's process ended or its connection closed; whichever comes first ends it. Its inputs go back to
    /// the backlog or fail; a pool whose containers keep failing to start fails its backlog.
    func containerEnded(_ containerID: String, reason: String) {
        guard let container = containers.removeValue(forKey: containerID) else { return }
        let pool = container.pool
        pool.containers[containerID] = nil
        container.startupTimer?.cancel()
        container.handle?.kill()  // the connection may close before the process exits
        // a container declared gone (its worker host was lost) can no longer report
        container.channel?.close(promise: nil)
        if let worker = container.worker {
            worker.containers.remove(containerID)
            scheduleWaitingForRoom()  // a slot on a worker host is free
        }
        if container.isStarting {
            pool.consecutiveStartFailures += 1
            pool.lastStartFailure = reason
            logger.warning(
                "container exited before connecting",
                metadata: ["aloft.container_id": "\(containerID)", "aloft.reason": "\(reason)"])
        } else {
            logger.debug(
                "container gone", metadata: ["aloft.container_id": "\(containerID)", "aloft.reason": "\(reason)"])
        }
        putBack(inputsOf: container, reason: reason)
        if pool.consecutiveStartFailures >= configuration.maxConsecutiveStartFailures {
            failPending(of: pool)
        }
        if containers.isEmpty { finishShutdown() }
        schedule(pool)
    }

    /// A container runs its inputs in the order they were sent: the first `slots` were running, the rest only
    /// queued on it. Both go back to the front of the backlog, the running ones first; a lost running input is run
    /// again at once without using a retry (Modal's internal-failure rule), up to a cap.
    private func putBack(inputsOf container: ContainerRecord, reason: String) {
        let pool = container.pool
        for inputID in container.assigned.dropFirst(container.slots).reversed() {
            guard let input = inputs[inputID] else { continue }
            if input.isAnswered {
                inputs[inputID] = nil  // its owner already has an answer (cancelled, or the caller left)
            } else {
                input.move(to: .waiting)
                pool.pending.prepend(inputID)
            }
        }
        for inputID in container.assigned.prefix(container.slots).reversed() {
            guard let input = inputs.removeValue(forKey: inputID), !input.isAnswered else { continue }
            input.move(to: .waiting)
            if input.internalRetries < configuration.maxInternalFailureRetries && !input.isGenerator {
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
