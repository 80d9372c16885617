import AloftCore
import Foundation
import Logging

/// Runs each container as a child OS process of the control plane (`SpawnedProcess`), and streams its stdout and
/// stderr to the control plane's own, each line prefixed with the function and container (as `modal run` does).
public struct ProcessContainerRuntime: ContainerRuntime {
    /// Where container output goes; `nil` drops it.
    public var forwardOutput: Bool

    public init(forwardOutput: Bool = true) {
        self.forwardOutput = forwardOutput
    }

    public func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (Int32) -> Void) throws -> any ContainerHandle
    {
        let process = try Self.spawn(
            spec, executable: spec.executable, arguments: spec.arguments, environment: Self.environment(of: spec),
            forwardOutput: forwardOutput, onExit: onExit)
        return ProcessHandle(process: process)
    }

    /// Starts `executable` for the container `spec` describes, its output forwarded (each line prefixed, and to
    /// `spec.onOutput`) or dropped; with `cgroups`, in those groups from its start.
    static func spawn(
        _ spec: ContainerSpec, executable: String, arguments: [String], environment: [String: String],
        cgroups: [String] = [], forwardOutput: Bool, onExit: @escaping @Sendable (Int32) -> Void
    ) throws -> SpawnedProcess {
        guard forwardOutput else {
            return try SpawnedProcess(
                executable: executable, arguments: arguments, environment: environment, standardOutput: -1,
                standardError: -1, cgroups: cgroups, onExit: onExit)
        }
        let out = try OutputPipe()
        let err: OutputPipe
        do {
            err = try OutputPipe()
        } catch {
            out.closeBothEnds()
            throw error
        }
        let prefix = spec.outputPrefix
        let forwarders = [
            LineForwarder(readEnd: out.readEnd, prefix: prefix, destination: .standardOutput, sink: spec.onOutput),
            LineForwarder(readEnd: err.readEnd, prefix: prefix, destination: .standardError, sink: spec.onOutput),
        ]
        defer {
            // The child has its copies; the control plane's would keep the pipes open after the child exits
            // (and, when the start failed, closing them ends the readers, which close the read ends).
            close(out.writeEnd)
            close(err.writeEnd)
        }
        return try SpawnedProcess(
            executable: executable, arguments: arguments, environment: environment, standardOutput: out.writeEnd,
            standardError: err.writeEnd, cgroups: cgroups
        ) { status in
            for forwarder in forwarders { forwarder.finish() }
            onExit(status)
        }
    }
}

private struct ProcessHandle: ContainerHandle {
    let process: SpawnedProcess
    var processID: Int32? { process.pid }
    // A stop asks the container alone (it drains). A kill takes what it started with it: its process group (it is
    // started in a group of its own) and every descendant still under it, found before the container dies and they
    // are orphaned (a child started with Foundation's `Process` is in a group of its own).
    func terminate() { process.send(SIGTERM) }
    func kill() {
        guard process.isRunning else { return }
        let descendants = ProcessTree.descendants(of: process.pid)
        process.send(SIGKILL, group: true)
        for descendant in descendants { Foundation.kill(descendant, SIGKILL) }
    }
    /// The container's own process (what it starts is not counted: finding it means reading all of `/proc`).
    func usage() -> ContainerUsage? { process.isRunning ? ProcessTree.usage(of: [process.pid]) : nil }
}

/// The processes of this host, from `/proc`.
enum ProcessTree {
    /// Every process under `root` (its children, theirs, and so on), as `/proc` lists them now.
    static func descendants(of root: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var children: [Int32: [Int32]] = [:]
        for entry in entries {
            guard let pid = Int32(entry), let parent = parent(of: pid) else { continue }
            children[parent, default: []].append(pid)
        }
        var found: [Int32] = []
        var frontier = [root]
        while let next = frontier.popLast() {
            let below = children[next] ?? []
            found += below
            frontier += below
        }
        return found
    }

    /// The parent of `pid`: the field after the state in `/proc/PID/stat`.
    private static func parent(of pid: Int32) -> Int32? {
        guard let fields = statFields(of: pid), fields.count > 1 else { return nil }
        return Int32(fields[1])
    }

    /// CPU time (user and system) and resident memory of `pids` together; nil when none could be read.
    static func usage(of pids: [Int32]) -> ContainerUsage? {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = sysconf(Int32(_SC_PAGESIZE))
        var usage: ContainerUsage?
        for pid in pids {
            // utime and stime are the 14th and 15th fields: the 12th and 13th after the name.
            guard let fields = statFields(of: pid), fields.count > 12, let user = Double(fields[11]),
                let system = Double(fields[12]), ticks > 0
            else { continue }
            let resident = Cgroups.read("/proc/\(pid)/statm")?.split(separator: " ").dropFirst().first.flatMap {
                Int($0)
            }
            usage = ContainerUsage(
                cpuSeconds: (usage?.cpuSeconds ?? 0) + (user + system) / ticks,
                memoryBytes: (usage?.memoryBytes ?? 0) + (resident ?? 0) * page)
        }
        return usage
    }

    /// The fields of `/proc/PID/stat` after the process's name (which may hold spaces), the state first.
    private static func statFields(of pid: Int32) -> [Substring]? {
        guard let stat = Cgroups.read("/proc/\(pid)/stat"), let end = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: end)...].split(separator: " ")
    }
}

/// Output lines of every container go through one lock, so lines of different containers never interleave.
private let outputLock = NSLock()

/// A pipe for a container's output: the child writes, the control plane reads.
private struct OutputPipe {
    /// Owned by the `LineForwarder` that reads it, which closes it once the pipe reached its end.
    let readEnd: Int32
    /// Given to the child as its stdout or stderr; `start` closes the control plane's copy.
    let writeEnd: Int32

    /// Throws `internalFailure`, naming the cause, when the process is out of file descriptors.
    init() throws {
        var descriptors: [Int32] = [-1, -1]
        // Close-on-exec: no other process started meanwhile (another container, a worker's parallel starts)
        // inherits an end; the child gets its end as its stdout or stderr (dup2 clears the flag there).
        guard pipe(&descriptors) == 0 else {
            let reason = String(cString: strerror(errno))
            throw AloftError(.internalFailure, "could not make a pipe for a container's output: \(reason)")
        }
        for descriptor in descriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        readEnd = descriptors[0]
        writeEnd = descriptors[1]
    }

    /// For a pipe no reader was started for.
    func closeBothEnds() {
        close(readEnd)
        close(writeEnd)
    }
}

/// Reads a pipe and writes each complete line, prefixed, to the parent's stdout or stderr.
///
/// A thread of its own reads the pipe with blocking reads until its end, then closes it (no Dispatch source: a
/// descriptor closed while its source is still registered can be reused by another file and crash Dispatch).
private final class LineForwarder: @unchecked Sendable {
    enum Destination { case standardOutput, standardError }
    private let prefix: Data
    private let destination: Destination
    private let sink: (@Sendable (Data, Bool) -> Void)?
    private var partial = Data()  // guarded by outputLock
    /// Signalled once the pipe reached its end and was closed.
    private let closed = DispatchSemaphore(value: 0)

    init(readEnd: Int32, prefix: String, destination: Destination, sink: (@Sendable (Data, Bool) -> Void)?) {
        self.prefix = Data(prefix.utf8)
        self.destination = destination
        self.sink = sink
        let reader = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = read(readEnd, &buffer, buffer.count)
                if count > 0 {
                    consume(Data(buffer[0..<count]))
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break  // the end of the pipe: every writer has closed it
                }
            }
            _ = Foundation.close(readEnd)
            closed.signal()
        }
        reader.name = "aloft-output"
        reader.start()
    }

    private func consume(_ chunk: Data) {
        outputLock.lock()
        defer { outputLock.unlock() }
        partial.append(chunk)
        var out = Data()
        while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
            out.append(prefix)
            out.append(partial[partial.startIndex...newline])
            partial.removeSubrange(partial.startIndex...newline)
        }
        write(out)
    }

    /// Once the process has ended: waits for the rest of its output (the pipe's end), then flushes a last
    /// unfinished line.
    func finish() {
        closed.wait()
        outputLock.lock()
        defer { outputLock.unlock() }
        guard !partial.isEmpty else { return }
        var out = Data()
        for line in partial.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) where !line.isEmpty {
            out.append(prefix)
            out.append(line)
            out.append(UInt8(ascii: "\n"))
        }
        partial.removeAll()
        write(out)
    }

    /// Hands `data` to the sink as it is (lines may carry an `OutputTag`) and writes it without tags.
    private func write(_ data: Data) {
        guard !data.isEmpty else { return }
        sink?(data, destination == .standardError)
        let handle = destination == .standardOutput ? FileHandle.standardOutput : FileHandle.standardError
        try? handle.write(contentsOf: Data(OutputTag.stripped(Array(data), prefixLength: prefix.count)))
    }
}

extension ProcessContainerRuntime {
    /// The environment a container inherits: the control plane's, without the server's own settings and secrets
    /// (a database URL with its password, the data directory, the server's token), which function code must not see.
    static func inheritedEnvironment() -> [String: String] {
        ProcessInfo.processInfo.environment.filter { key, _ in AloftEnvironment.isInheritedByContainers(key) }
    }

    /// The whole environment of `spec`'s process: the inherited one, the spec's own over it, and the GPUs it was
    /// given as `CUDA_VISIBLE_DEVICES`.
    static func environment(of spec: ContainerSpec) -> [String: String] {
        var environment = inheritedEnvironment().merging(spec.environment) { _, new in new }
        if !spec.resources.gpuDevices.isEmpty {
            environment["CUDA_VISIBLE_DEVICES"] = spec.resources.gpuDevices.map(String.init).joined(separator: ",")
        }
        return environment
    }
}
