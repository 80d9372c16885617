import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore

/// A worker host (`aloft worker`) connected to this control plane: it starts the containers it is assigned.
final class WorkerRecord: @unchecked Sendable {
    let channel: any Channel
    let name: String
    /// The workspace of its token: it runs only that workspace's containers.
    let workspace: String
    let maxContainers: Int
    /// Containers it was asked to start that have not ended.
    var containers: Set<String> = []
    var lastHeartbeat = NIODeadline.now()

    init(channel: any Channel, name: String, workspace: String, maxContainers: Int) {
        self.channel = channel
        self.name = name
        self.workspace = workspace
        self.maxContainers = maxContainers
    }
}

/// A container on a worker host: signals go to the worker, which signals the process.
struct RemoteContainerHandle: ContainerHandle {
    let containerID: String
    let worker: any Channel
    var processID: Int32? { nil }
    func terminate() { signal(kill: false) }
    func kill() { signal(kill: true) }

    private func signal(kill: Bool) {
        var signal = Aloft_V1_ContainerSignal()
        signal.containerID = containerID
        signal.kill = kill
        worker.writeAndFlush(Aloft_V1_Envelope(requestID: 0, body: .containerSignal(signal)), promise: nil)
    }
}

/// Where a new container runs.
enum Placement {
    case local
    case worker(WorkerRecord)
}

extension ControlPlaneState {
    func workerRegistered(_ register: Aloft_V1_WorkerRegister, connection: ConnectionHandler, channel: any Channel, requestID: UInt64) {
        guard connection.role == .worker else {
            sendError(.protocolError, "only a worker host (role worker) registers as one", requestID: requestID, on: channel)
            return
        }
        guard workers[ObjectIdentifier(channel)] == nil else {
            sendError(.protocolError, "this worker host is already registered", requestID: requestID, on: channel)
            return
        }
        let name = register.name.isEmpty ? "worker-\(randomHex())" : register.name
        let worker = WorkerRecord(channel: channel, name: name, workspace: connection.workspace, maxContainers: max(1, Int(register.maxContainers)))
        workers[ObjectIdentifier(channel)] = worker
        logger.notice("worker host joined", metadata: [
            "aloft.worker": "\(name)", "aloft.max_containers": "\(worker.maxContainers)", "aloft.workspace": "\(worker.workspace)",
        ])
        send(.ack(.init()), requestID: requestID, on: channel)
        scheduleWaitingForRoom()
    }

    /// Schedules the pools that found no room, now that there may be some.
    func scheduleWaitingForRoom() {
        guard !waitingForRoom.isEmpty else { return }
        let waiting = waitingForRoom.values
        waitingForRoom.removeAll()
        for pool in waiting { schedule(pool) }
    }

    /// No host has room for a container of `pool`. With inputs waiting, an idle container of another function on a
    /// worker host is stopped to make room (instead of its scaledown window); the pool is scheduled again when a
    /// slot frees up.
    func noRoom(for pool: FunctionPool) {
        if waitingForRoom.updateValue(pool, forKey: ObjectIdentifier(pool)) == nil {
            if !workers.values.contains(where: { $0.workspace == pool.workspace }) {
                logger.warning("no host has room for a container: waiting for a worker host", metadata: ["aloft.function": "\(pool.name)"])
            } else {
                logger.debug("worker hosts are full: waiting for room", metadata: ["aloft.function": "\(pool.name)"])
            }
        }
        let ownWorkers = workers.values.filter { $0.workspace == pool.workspace }
        guard !pool.pending.isEmpty, !ownWorkers.isEmpty, !ownWorkers.contains(where: { $0.containers.count < $0.maxContainers }) else { return }
        let stopping = containers.values.count { $0.worker != nil && $0.stopping }
        guard stopping < waitingForRoom.count else { return }  // room is already on its way
        let idle = containers.values
            .filter { $0.worker?.workspace == pool.workspace && $0.pool !== pool && $0.isServing && $0.assigned.isEmpty }
            .min { $0.idleSince < $1.idleSince }
        if let idle {
            logger.debug("stopping an idle container to make room", metadata: ["aloft.container_id": "\(idle.id)", "aloft.for": "\(pool.name)"])
            stop(idle)
        }
    }

    func workerHeartbeat(from channel: any Channel) {
        workers[ObjectIdentifier(channel)]?.lastHeartbeat = .now()
    }

    func workerReportedExit(_ exited: Aloft_V1_ContainerExited, from channel: any Channel) {
        guard let worker = workers[ObjectIdentifier(channel)], worker.containers.contains(exited.containerID) else { return }
        containerExited(exited.containerID, reason: exited.reason.isEmpty ? "exited with status \(exited.status)" : exited.reason)
    }

    /// A worker host closed its connection or missed its heartbeats: its containers are gone (their connections are
    /// closed, so a container that still runs there can no longer report), and their inputs run again elsewhere.
    func workerLost(_ channel: any Channel, reason: String) {
        guard let worker = workers.removeValue(forKey: ObjectIdentifier(channel)) else { return }
        logger.warning("worker host lost", metadata: [
            "aloft.worker": "\(worker.name)", "aloft.reason": "\(reason)", "aloft.containers": "\(worker.containers.count)",
        ])
        channel.close(promise: nil)
        for containerID in worker.containers {
            containerGone(containerID, reason: "was on worker host \(worker.name), which was lost (\(reason))")
        }
        worker.containers.removeAll()
    }

    /// Closes the connections of workers whose last heartbeat is older than the lease. Called by the reaper.
    func expireWorkerLeases(now: NIODeadline) {
        let lease = TimeAmount(configuration.workerLease)
        for worker in workers.values where now - worker.lastHeartbeat > lease {
            workerLost(worker.channel, reason: "no heartbeat for \(configuration.workerLease)")
        }
    }

    /// Where a container of `pool` may start now: a deployed function's on the host or a worker host with room,
    /// whichever runs fewer containers; a function registered from a local path only on this host. `nil`: nowhere
    /// has room (it starts when a worker host joins or a container ends).
    func placement(for pool: FunctionPool) -> Placement? {
        guard !pool.artifact.isEmpty else { return .local }
        var best: (placement: Placement, load: Int)?
        if configuration.runsContainersLocally {
            best = (.local, containers.values.count { $0.worker == nil })
        }
        for worker in workers.values where worker.workspace == pool.workspace && worker.containers.count < worker.maxContainers {
            if worker.containers.count < best?.load ?? .max { best = (.worker(worker), worker.containers.count) }
        }
        return best?.placement
    }

    /// Asks `worker` to start a container; its exit is reported with `ContainerExited`.
    func startRemotely(_ container: ContainerRecord, spec: ContainerSpec, on worker: WorkerRecord) {
        var start = Aloft_V1_ContainerStart()
        start.containerID = container.id
        start.artifact = container.pool.artifact
        start.arguments = spec.arguments
        start.environment = spec.environment
        start.environment[AloftEnvironment.controlPlaneAddress] = nil  // the worker knows how to reach this server
        start.functionName = spec.functionName
        start.appName = spec.appName
        container.worker = worker
        worker.containers.insert(container.id)
        container.handle = RemoteContainerHandle(containerID: container.id, worker: worker.channel)
        send(.containerStart(start), on: worker.channel)
        logger.debug("starting container on a worker host", metadata: ["aloft.container_id": "\(container.id)", "aloft.worker": "\(worker.name)"])
    }
}
