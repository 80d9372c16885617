import AloftCore
import Foundation

// Placement: a container goes where its function's requests (CPU, memory, GPUs) fit beside what the host's other
// containers requested; of the hosts where it fits, the one it fills best (the least CPU left after it: bin-packing
// keeps big hosts free for big containers), then the one with fewer containers. A host whose capacity is unknown
// (the embedded control plane's own) takes any container and gives no GPUs.

extension Scheduler {
    /// Where a container of `pool` may start now (or once the container `stopped` has ended), with the GPU devices
    /// it gets there; `nil`: nowhere has room (it starts when a worker host joins or a container ends). A deployed
    /// function goes to this host or a worker host; one registered from a local path only to this host (no worker
    /// has that path).
    func placement(for pool: FunctionPool, without stopped: ContainerRecord? = nil) -> Placement? {
        let options = pool.definition.options
        var best: (placement: Placement, cpuLeft: Double, load: Int)?
        for host in hosts(for: pool) {
            let theirs =
                (host.worker.map { $0.containers.compactMap { containers[$0] } }
                ?? containers.values.filter { $0.worker == nil }).filter { $0 !== stopped }
            if let worker = host.worker, theirs.count >= worker.maxContainers { continue }
            // A host of unknown size (the embedded control plane's own) takes any container and gives no GPUs.
            guard let fit = host.capacity.map({ fit(options, on: $0, beside: theirs) }) ?? (.infinity, []) else {
                continue
            }
            if let current = best, (current.cpuLeft, current.load) <= (fit.cpuLeft, theirs.count) { continue }
            let placement =
                host.worker.map { Placement.worker($0, gpuDevices: fit.gpuDevices) }
                ?? .local(gpuDevices: fit.gpuDevices)
            best = (placement, fit.cpuLeft, theirs.count)
        }
        return best?.placement
    }

    /// The hosts that may run containers of `pool`, this one first: a deployed function's may run here (unless
    /// `--local-worker off`) or on a worker host of its workspace; one registered from a local path only here (no
    /// worker has that path). `capacity` `nil`: no limit.
    private func hosts(for pool: FunctionPool) -> [(name: String, capacity: HostCapacity?, worker: WorkerRecord?)] {
        let localOnly = pool.definition.artifact.isEmpty
        var hosts: [(name: String, capacity: HostCapacity?, worker: WorkerRecord?)] = []
        if configuration.runsContainersLocally || localOnly {
            hosts.append(("this server", configuration.localCapacity, nil))
        }
        if !localOnly {
            hosts += workers.inWorkspace(pool.workspace).map { ("worker \($0.name)", $0.capacity, $0) }
        }
        return hosts
    }

    /// Whether a container of `options` fits on a host of `capacity` beside `others`: the CPU left after it and
    /// the GPU devices it would get.
    private func fit(
        _ options: FunctionOptions, on capacity: HostCapacity, beside others: [ContainerRecord]
    ) -> (cpuLeft: Double, gpuDevices: [Int])? {
        let cpuLeft = capacity.cpus - others.reduce(0) { $0 + $1.cpu.request }
        let memoryLeft = capacity.memoryMiB - others.reduce(0) { $0 + $1.memory.request }
        guard cpuLeft >= options.cpu.request, memoryLeft >= options.memory.request else { return nil }
        guard let gpu = options.gpu else { return (cpuLeft - options.cpu.request, []) }
        let taken = Set(others.flatMap(\.gpuDevices))
        for choice in gpu.choices where choice.count >= 1 {
            let free = capacity.gpus.indices.filter { !taken.contains($0) && choice.accepts(capacity.gpus[$0]) }
            if free.count >= choice.count { return (cpuLeft - options.cpu.request, Array(free.prefix(choice.count))) }
        }
        return nil
    }

    /// Why no host could ever take a container of `pool` (its requests exceed every host's whole capacity), or
    /// `nil` when some host could once others end.
    func unplaceableReason(for pool: FunctionPool) -> String? {
        let options = pool.definition.options
        let hosts = hosts(for: pool)
        let fitsSomewhere = hosts.contains { host in
            host.capacity.map { fit(options, on: $0, beside: []) != nil } ?? true
        }
        guard !fitsSomewhere else { return nil }
        var wants = String(format: "%g cores, %d MiB", options.cpu.request, options.memory.request)
        if let gpu = options.gpu { wants += ", GPU " + gpu.descriptions.joined(separator: " or ") }
        let offers = hosts.map { "\($0.name): \($0.capacity.map(String.init(describing:)) ?? "any")" }
        return "no host can give a container of '\(pool.name)' what it requests (\(wants)); "
            + (offers.isEmpty ? "no host takes it yet" : offers.joined(separator: "; "))
            + ": it waits for a host that can"
    }
}
