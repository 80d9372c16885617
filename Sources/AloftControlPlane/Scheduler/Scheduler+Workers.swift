import AloftCore
import AloftWire
import Logging
import NIOCore

/// The worker hosts connected to the scheduler, and the pools waiting for room on one.
struct WorkerHosts {
    /// Connected worker hosts, by their connection.
    var byChannel: [ObjectIdentifier: WorkerRecord] = [:]
    /// Pools that found no room for a container: scheduled again when a worker host joins or a container on one
    /// ends.
    var waitingForRoom: [ObjectIdentifier: FunctionPool] = [:]

    func inWorkspace(_ workspace: String) -> [WorkerRecord] {
        byChannel.values.filter { $0.workspace == workspace }
    }
}

// Worker hosts (`aloft worker`): they register, heartbeat, start the containers they are assigned and report
// their exits; one that is lost takes its containers with it.

extension Scheduler {
    func workerRegistered(
        _ register: Aloft_V1_WorkerRegister, workspace: String, channel: any WirePeer, requestID: UInt64
    ) {
        guard workers.byChannel[ObjectIdentifier(channel)] == nil else {
            return sendError(
                .protocolError, "this worker host is already registered", requestID: requestID, on: channel)
        }
        let name = register.name.isEmpty ? "worker-\(randomHex())" : register.name
        // A worker that says nothing of its size (an older one) is taken as able to hold what it is sent.
        let capacity = HostCapacity(
            cpus: register.cpuCores > 0
                ? register.cpuCores : register.cpus > 0 ? Double(register.cpus) : .greatestFiniteMagnitude,
            memoryMiB: register.memoryBytes > 0 ? Int(register.memoryBytes >> 20) : .max, gpus: register.gpus)
        let worker = WorkerRecord(
            channel: channel, name: name, workspace: workspace,
            maxContainers: max(1, Int(register.maxContainers)), capacity: capacity, now: loop.now)
        workers.byChannel[ObjectIdentifier(channel)] = worker
        logger.notice(
            "worker host joined",
            metadata: [
                "aloft.worker": "\(name)", "aloft.max_containers": "\(worker.maxContainers)",
                "aloft.capacity": "\(capacity)",
                "aloft.workspace": "\(worker.workspace)",
            ])
        send(.ack(.init()), requestID: requestID, on: channel)
        scheduleWaitingForRoom()
    }

    /// Schedules the pools that found no room, now that there may be some.
    func scheduleWaitingForRoom() {
        guard !workers.waitingForRoom.isEmpty else { return }
        let waiting = workers.waitingForRoom.values
        workers.waitingForRoom.removeAll()
        for pool in waiting { schedule(pool) }
    }

    /// No host has room for a container of `pool`. With inputs waiting, an idle container of another function is
    /// stopped where that makes room for one (instead of its scaledown window ending first); the pool is scheduled
    /// again when a container ends. A pool whose requests fit no host at all says so in its stats and the log.
    func noRoom(for pool: FunctionPool) {
        let ownWorkers = workers.inWorkspace(pool.workspace)
        let unplaceable = unplaceableReason(for: pool)
        if unplaceable != pool.unplaceable, let unplaceable {
            logger.warning("\(unplaceable)", metadata: ["aloft.function": "\(pool.name)"])
        }
        pool.unplaceable = unplaceable
        if workers.waitingForRoom.updateValue(pool, forKey: ObjectIdentifier(pool)) == nil, unplaceable == nil {
            if ownWorkers.isEmpty && !configuration.runsContainersLocally {
                logger.warning(
                    "no host has room for a container: waiting for a worker host",
                    metadata: ["aloft.function": "\(pool.name)"])
            } else {
                logger.debug("hosts are full: waiting for room", metadata: ["aloft.function": "\(pool.name)"])
            }
        }
        guard !pool.pending.isEmpty, unplaceable == nil else { return }
        let stopping = containers.values.count { $0.isStopping }
        guard stopping < workers.waitingForRoom.count else { return }  // room is already on its way
        let idle = containers.values
            .filter {
                $0.pool !== pool && $0.pool.workspace == pool.workspace && $0.isServing && $0.assigned.isEmpty
                    && $0.pool.activeContainers > desiredContainers($0.pool)
            }
            .sorted { $0.idleSince < $1.idleSince }
            .first { placement(for: pool, without: $0) != nil }
        if let idle {
            logger.debug(
                "stopping an idle container to make room",
                metadata: ["aloft.container_id": "\(idle.id)", "aloft.for": "\(pool.name)"])
            stop(idle)
        }
    }

    func workerHeartbeat(from channel: any WirePeer) {
        workers.byChannel[ObjectIdentifier(channel)]?.lastHeartbeat = loop.now
    }

    /// What the containers of a worker host used; only that host's own containers are taken.
    func workerReportedUsage(_ reports: [Aloft_V1_ContainerUsageReport], from channel: any WirePeer) {
        for report in reports {
            guard let container = containers[report.containerID], container.worker?.channel === channel else {
                continue
            }
            container.reportedUsage = ContainerUsage(
                cpuSeconds: report.cpuSeconds.isFinite ? max(0, report.cpuSeconds) : 0,
                memoryBytes: Int(clamping: report.memoryBytes))
        }
    }

    func workerReportedExit(_ exited: Aloft_V1_ContainerExited, from channel: any WirePeer) {
        guard let worker = workers.byChannel[ObjectIdentifier(channel)], worker.containers.contains(exited.containerID)
        else { return }
        containerProcessExited(
            exited.containerID, status: exited.status, reason: exited.reason.isEmpty ? nil : exited.reason,
            outOfMemory: exited.outOfMemory)
    }

    /// A worker host closed its connection or missed its heartbeats: its containers are gone (their connections are
    /// closed, so a container that still runs there can no longer report), and their inputs run again elsewhere.
    func workerLost(_ channel: any WirePeer, reason: String) {
        guard let worker = workers.byChannel.removeValue(forKey: ObjectIdentifier(channel)) else { return }
        logger.warning(
            "worker host lost",
            metadata: [
                "aloft.worker": "\(worker.name)", "aloft.reason": "\(reason)",
                "aloft.containers": "\(worker.containers.count)",
            ])
        channel.close()
        for containerID in worker.containers {
            containerEnded(
                containerID, .hostLost, reason: "was on worker host \(worker.name), which was lost (\(reason))")
        }
        worker.containers.removeAll()
    }

    /// Closes the connections of workers whose last heartbeat is older than the lease. Called by the reaper.
    func expireWorkerLeases(now: NIODeadline) {
        let lease = TimeAmount(configuration.workerLease)
        for worker in workers.byChannel.values where now - worker.lastHeartbeat > lease {
            workerLost(worker.channel, reason: "no heartbeat for \(configuration.workerLease)")
        }
    }

    /// Asks `worker` to start a container; its exit is reported with `ContainerExited`.
    func startRemotely(_ container: ContainerRecord, spec: ContainerSpec, on worker: WorkerRecord) {
        var start = Aloft_V1_ContainerStart()
        start.containerID = container.id
        start.artifact = container.pool.definition.artifact
        start.arguments = spec.arguments
        start.environment = spec.environment
        start.environment[AloftEnvironment.controlPlaneAddress] = nil  // the worker knows how to reach this server
        start.functionName = spec.functionName
        start.appName = spec.appName
        start.resources = Aloft_V1_ContainerResources(container.pool.definition.options)
        start.gpuDevices = spec.resources.gpuDevices.map { UInt32($0) }
        container.worker = worker
        worker.containers.insert(container.id)
        container.handle = RemoteContainerHandle(containerID: container.id, worker: worker.channel)
        send(.containerStart(start), on: worker.channel)
        logger.debug(
            "starting container on a worker host",
            metadata: ["aloft.container_id": "\(container.id)", "aloft.worker": "\(worker.name)"])
    }
}
