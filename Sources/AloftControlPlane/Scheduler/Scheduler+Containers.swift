import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
import Synchronization

// Containers from start to serving: started here or on a worker host, connected, and stopped. How they end is in
// Scheduler+ContainerEnds.

extension Scheduler {
    /// Starts a container where there is room; false when there is none (see `placement(for:)`).
    func startContainer(for pool: FunctionPool) -> Bool {
        guard let placement = placement(for: pool) else {
            noRoom(for: pool)
            return false
        }
        workers.waitingForRoom[ObjectIdentifier(pool)] = nil
        pool.unplaceable = nil
        let container = ContainerRecord(id: "ctr-" + randomHex(), pool: pool, now: loop.now)
        switch placement {
        case .local(let devices), .worker(_, let devices): container.gpuDevices = devices
        }
        let spec: ContainerSpec
        do {
            spec = try containerSpec(for: container)
        } catch {
            containers[container.id] = container
            pool.containers[container.id] = container
            containerEnded(container.id, .died, reason: "could not be started: \(error.message)")
            return true
        }
        containers[container.id] = container
        pool.containers[container.id] = container
        logger.debug(
            "starting container", metadata: ["aloft.container_id": "\(container.id)", "aloft.function": "\(pool.name)"])
        traceContainerStarting(container)
        switch placement {
        case .worker(let worker, _):
            startRemotely(container, spec: spec, on: worker)
        case .local:
            do {
                container.handle = try configuration.containerRuntime.start(spec) { [self] status in
                    guard !loopClosing.load(ordering: .sequentiallyConsistent) else { return }
                    loop.execute {
                        // The handle is set: this runs after `start` returned, on the same loop.
                        let outOfMemory = container.handle?.wasKilledAtMemoryLimit ?? false
                        self.containerProcessExited(container.id, status: status, outOfMemory: outOfMemory)
                    }
                }
            } catch {
                containerEnded(container.id, .died, reason: "could not be started: \(error)")
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

    private func containerSpec(for container: ContainerRecord) throws(AloftError) -> ContainerSpec {
        let pool = container.pool
        // The function's environment and secrets first: Aloft's own variables win over them.
        var environment = try secretEnvironment(for: pool)
        environment[AloftEnvironment.controlPlaneAddress] = address
        environment[AloftEnvironment.containerID] = container.id
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
            environment: environment, resources: ContainerResources(pool.definition.options))
        spec.resources.gpuDevices = container.gpuDevices
        spec.onOutput = {
            [self, id = container.id, tail = container.outputTail, pending = container.pendingOutput, pool]
            lines,
            standardError in
            tail.append(lines)
            guard !loopClosing.load(ordering: .sequentiallyConsistent), pending.admit(lines) else { return }
            loop.execute {
                pending.taken(lines)
                self.containerPrinted(id, lines, standardError: standardError, pool: pool)
            }
        }
        return spec
    }

    /// False (and the connection closed) for an unknown container id or one that is already connected.
    func isExpectedContainer(_ containerID: String, channel: any WirePeer) -> Bool {
        guard let container = containers[containerID], container.channel == nil else {
            // A container that connects after its app stopped is expected at shutdown, not worth a warning.
            logger.log(
                level: isRunning ? .warning : .debug, "unknown or duplicate container connected",
                metadata: ["aloft.container_id": "\(containerID)"])
            channel.close()
            return false
        }
        return true
    }

    func containerConnected(_ containerID: String, channel: any WirePeer) {
        guard let container = containers[containerID] else { return }
        container.connected(channel)
        metricsColdStart(container)
        traceContainerStarted(container, ok: true)
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
}
