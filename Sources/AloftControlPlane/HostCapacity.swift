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

    /// The GPUs `--gpus` names (`text`), or without it those this machine has.
    public static func gpus(setting text: String?) throws(AloftError) -> [String] {
        guard let text else { return detectedGPUs() }
        return try gpus(parsing: text)
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
        process.currentDirectoryURL = URL(fileURLWithPath: "/")  // not the server's, which may be closed to it
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
