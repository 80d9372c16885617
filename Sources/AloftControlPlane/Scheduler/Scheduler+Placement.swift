public import AloftCore
import Foundation

/// What a host offers containers: cores, memory, and its GPU devices (the type of each, by index).
public struct HostCapacity: Sendable, Hashable, CustomStringConvertible {
    public var cpus: Double
    public var memoryMiB: Int
    public var gpus: [String]

    public init(cpus: Double, memoryMiB: Int, gpus: [String] = []) {
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.gpus = gpus
    }

    /// This machine: its cores and physical memory, and `gpus`.
    public static func thisHost(gpus: [String] = []) -> HostCapacity {
        HostCapacity(
            cpus: Double(ProcessInfo.processInfo.activeProcessorCount),
            memoryMiB: Int(ProcessInfo.processInfo.physicalMemory >> 20), gpus: gpus)
    }

    /// Reads a GPU inventory, `TYPE:COUNT[,TYPE:COUNT…]` (`H100:2,A100-80GB:1`): the type of each device, in
    /// index order.
    public static func gpus(parsing text: String) throws(AloftError) -> [String] {
        var devices: [String] = []
        for part in text.split(separator: ",") where !part.isEmpty {
            let fields = part.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let type = fields.first, !type.isEmpty, let count = fields.count == 2 ? Int(fields[1]) : 1,
                count >= 1, count <= 64
            else { throw AloftError(.invalidConfiguration, "--gpus takes TYPE:COUNT[,TYPE:COUNT…], got '\(text)'") }
            devices += Array(repeating: String(type), count: count)
        }
        return devices
    }

    /// The GPUs `nvidia-smi` lists on this machine, named without the vendor and with dashes for spaces
    /// (`NVIDIA H100 80GB HBM3` → `H100-80GB-HBM3`, which a request for `H100` accepts), or none without it.
    public static func detectedGPUs() -> [String] {
        guard
            let smi = ["/usr/bin/nvidia-smi", "/usr/local/bin/nvidia-smi"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else { return [] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: smi)
        process.arguments = ["--query-gpu=name", "--format=csv,noheader"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return [] }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return [] }
        return String(decoding: output, as: UTF8.self).split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "NVIDIA ", with: "")
                .replacingOccurrences(of: " ", with: "-")
        }
    }

    public var description: String {
        let devices = Dictionary(grouping: gpus, by: { $0 }).map { "\($0.value.count) \($0.key)" }.sorted()
        let cores = cpus == cpus.rounded() ? String(Int(cpus)) : String(cpus)
        return "\(cores) \(cpus == 1 ? "core" : "cores"), \(memoryMiB) MiB, "
            + (devices.isEmpty ? "no GPUs" : devices.joined(separator: ", "))
    }
}

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
        let localOnly = pool.definition.artifact.isEmpty
        var best: (placement: Placement, cpuLeft: Double, load: Int)?
        func consider(_ placement: Placement, cpuLeft: Double, load: Int) {
            if let current = best, (current.cpuLeft, current.load) <= (cpuLeft, load) { return }
            best = (placement, cpuLeft, load)
        }
        if configuration.runsContainersLocally || localOnly {
            let local = containers.values.filter { $0.worker == nil && $0 !== stopped }
            if let capacity = configuration.localCapacity {
                if let fit = fit(options, on: capacity, beside: local) {
                    consider(.local(gpuDevices: fit.gpuDevices), cpuLeft: fit.cpuLeft, load: local.count)
                }
            } else {
                consider(.local(gpuDevices: []), cpuLeft: .infinity, load: local.count)
            }
        }
        guard !localOnly else { return best?.placement }
        for worker in workers.inWorkspace(pool.workspace) {
            let theirs = worker.containers.compactMap { containers[$0] }.filter { $0 !== stopped }
            guard theirs.count < worker.maxContainers else { continue }
            if let fit = fit(options, on: worker.capacity, beside: theirs) {
                consider(.worker(worker, gpuDevices: fit.gpuDevices), cpuLeft: fit.cpuLeft, load: theirs.count)
            }
        }
        return best?.placement
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
        let localOnly = pool.definition.artifact.isEmpty
        var hosts: [(name: String, capacity: HostCapacity?)] = []
        if configuration.runsContainersLocally || localOnly {
            hosts.append(("this server", configuration.localCapacity))
        }
        if !localOnly {
            hosts += workers.inWorkspace(pool.workspace).map { ("worker \($0.name)", $0.capacity) }
        }
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
