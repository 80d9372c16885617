import AloftWire
import NIOCore

/// A worker host (`aloft worker`) connected to this control plane: it starts the containers it is assigned.
final class WorkerRecord: @unchecked Sendable {
    let channel: any WirePeer
    let name: String
    /// The workspace of its token: it runs only that workspace's containers.
    let workspace: String
    let maxContainers: Int
    /// What it offers containers (`aloft worker --cpus/--memory/--gpus`, else its own cores and memory).
    let capacity: HostCapacity
    /// Containers it was asked to start that have not ended.
    var containers: Set<String> = []
    var lastHeartbeat: NIODeadline

    init(
        channel: any WirePeer, name: String, workspace: String, maxContainers: Int, capacity: HostCapacity,
        now: NIODeadline
    ) {
        self.capacity = capacity
        self.channel = channel
        self.name = name
        self.workspace = workspace
        self.maxContainers = maxContainers
        self.lastHeartbeat = now
    }
}

/// A container on a worker host: signals go to the worker, which signals the process.
struct RemoteContainerHandle: ContainerHandle {
    let containerID: String
    let worker: any WirePeer
    var processID: Int32? { nil }
    func terminate() { signal(kill: false) }
    func kill() { signal(kill: true) }

    private func signal(kill: Bool) {
        var signal = Aloft_V1_ContainerSignal()
        signal.containerID = containerID
        signal.kill = kill
        worker.writeAndFlush(Aloft_V1_Envelope(requestID: 0, body: .containerSignal(signal)))
    }
}

/// Where a new container runs.
enum Placement {
    case local(gpuDevices: [Int])
    case worker(WorkerRecord, gpuDevices: [Int])
}
