public import AloftCore
import Foundation
import Synchronization

/// Runs each container in a box of its own (`SandboxCommand`: bubblewrap's namespaces and a read-only view of the
/// host, a uid of its own through setpriv) and a cgroup of its own (`Cgroups`: the function's memory and CPU
/// limits, a pids limit always). As root it needs `bwrap` and `setpriv`, and a cgroup hierarchy with the memory,
/// cpu and pids controllers. Without root it needs `bwrap`, `prlimit` and unprivileged user namespaces, and boxes
/// without cgroups: no memory or CPU limits then, the pids limit through `RLIMIT_NPROC`. `make` says which is
/// missing.
public struct SandboxContainerRuntime: ContainerRuntime {
    public struct Configuration: Sendable {
        /// Tasks (processes and threads) one container may have. Default 4,096: a container may run up to 1,000
        /// blocking inputs at once, each on a thread of its own.
        public var pidsLimit = 4_096
        /// The size of a container's `/tmp` when its function names no `ephemeralDisk`, in MiB.
        public var defaultEphemeralDisk = 1_024
        /// Containers run as uids from `firstUID` on, a different one for each container running at once.
        public var firstUID: UInt32 = 200_000
        public var uidCount: UInt32 = 100_000
        /// Forwards container output to this process's stdout and stderr (as `ProcessContainerRuntime` does).
        public var forwardOutput = true

        public init() {}
    }

    let configuration: Configuration
    let command: SandboxCommand
    /// `nil` where they cannot be used (without root, or as root where they failed): nothing limits memory or CPU.
    let cgroups: Cgroups?
    /// What this runtime uses, for the log line that says which isolation is in force.
    public let description: String
    private let startCount = StartCount()
    /// The containers whose cgroup is not removed yet.
    private let live = LiveContainers()

    /// Whether functions' memory and CPU limits hold here (not without cgroups).
    public var enforcesLimits: Bool { cgroups != nil }

    private init(configuration: Configuration, command: SandboxCommand, cgroups: Cgroups?, description: String) {
        self.configuration = configuration
        self.command = command
        self.cgroups = cgroups
        self.description = description
    }

    /// The runtime, or `invalidConfiguration` saying why this host cannot box containers (no `bwrap`, `setpriv` or
    /// `prlimit`; a bubblewrap that cannot make the box, too old or without user namespaces for a user).
    public static func make(configuration: Configuration = Configuration()) -> Result<Self, AloftError> {
        func fail(_ why: String) -> Result<Self, AloftError> { .failure(AloftError(.invalidConfiguration, why)) }
        guard let bwrap = SandboxCommand.find("bwrap") else {
            return fail("no bwrap (Debian: apt-get install bubblewrap)")
        }
        guard let prlimit = SandboxCommand.find("prlimit") else { return fail("no prlimit (Debian: util-linux)") }
        let pids = configuration.pidsLimit
        let unlimited = "WITHOUT memory or CPU limits"
        guard geteuid() == 0 else {
            if let why = boxUnavailable(bwrap: bwrap, userNamespace: true) {
                return fail("not root (uid \(geteuid())), and bubblewrap cannot make a user namespace: \(why)")
            }
            let command = SandboxCommand(bwrap: bwrap, identity: .userNamespace(prlimit: prlimit, pidsLimit: pids))
            let description =
                "bubblewrap in a user namespace (not root: pid, mount, ipc and uts namespaces; the box's uid is this "
                + "process's own outside it; at most \(pids) tasks per box through RLIMIT_NPROC), \(unlimited) "
                + "(they need root for cgroups)"
            return .success(
                Self(configuration: configuration, command: command, cgroups: nil, description: description))
        }
        guard let setpriv = SandboxCommand.find("setpriv") else { return fail("no setpriv (Debian: util-linux)") }
        if let why = boxUnavailable(bwrap: bwrap, userNamespace: false) {
            return fail("bubblewrap cannot make a box here: \(why)")
        }
        let boxed = "bubblewrap (pid, mount, ipc and uts namespaces; a uid per container)"
        switch Cgroups.detect(pidsLimit: pids) {
        case .failure(let error):
            // Still a box and a uid of its own, never a plain process of root's: only the limits are lost.
            let command = SandboxCommand(bwrap: bwrap, identity: .setpriv(setpriv, prlimit: prlimit, pidsLimit: pids))
            let description =
                "\(boxed), at most \(pids) tasks per box through RLIMIT_NPROC, \(unlimited): no usable cgroups "
                + "(\(error.message))"
            return .success(
                Self(configuration: configuration, command: command, cgroups: nil, description: description))
        case .success(let cgroups):
            let command = SandboxCommand(bwrap: bwrap, identity: .setpriv(setpriv))
            return .success(
                Self(
                    configuration: configuration, command: command, cgroups: cgroups,
                    description: "\(boxed) and \(cgroups.description)"))
        }
    }

    /// Why bubblewrap cannot make a box with the options the runtime uses (tried once: an old bubblewrap lacks
    /// some; the kernel or its settings may forbid users to make user namespaces), or `nil`.
    private static func boxUnavailable(bwrap: String, userNamespace: Bool) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bwrap)
        // Not the server's working directory, which its user may not be allowed into (a server run as another
        // user from a private directory): Foundation changes into it first, and the start fails with EACCES.
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        process.arguments =
            (userNamespace ? ["--unshare-user", "--disable-userns"] : [])
            + ["--unshare-pid", "--ro-bind", "/", "/", "--size", "1048576", "--perms", "1777", "--tmpfs", "/tmp"]
            + ["--dev-bind-try", "/dev/null", "/dev/null", "--", "/bin/true"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { return "\(bwrap): \(error)" }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus != 0 else { return nil }
        return String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (Int32) -> Void) throws -> any ContainerHandle
    {
        var environment = ProcessContainerRuntime.environment(of: spec)
        let socket = try controlPlaneSocket(spec, environment: &environment)
        // As root the box runs as a uid of its own; in a user namespace, as this process's uid.
        if case .setpriv = command.identity { try Self.checkExecutable(spec.executable) }
        let limits = try cgroups.map { cgroups throws(AloftError) in
            Limits(cgroups: cgroups, group: try cgroups.makeGroup(id: spec.containerID, resources: spec.resources))
        }
        let uid = configuration.firstUID + startCount.next() % configuration.uidCount
        let arguments = command.arguments(
            containerID: spec.containerID, executable: spec.executable, arguments: spec.arguments, uid: uid,
            socket: socket, temporaryBytes: (spec.resources.ephemeralDisk ?? configuration.defaultEphemeralDisk) << 20,
            blockNetwork: spec.resources.blockNetwork, gpuDevices: spec.resources.gpuDevices)
        let handle = SandboxHandle(limits: limits)
        live.add(handle, id: spec.containerID)
        do {
            handle.process = try ProcessContainerRuntime.spawn(
                spec, executable: command.bwrap, arguments: arguments, environment: environment,
                cgroups: limits?.group.joinFiles ?? [],
                forwardOutput: configuration.forwardOutput
            ) { [live] status in
                if let limits {
                    handle.killedAtMemoryLimit.store(
                        limits.cgroups.wasKilledAtMemoryLimit(limits.group), ordering: .sequentiallyConsistent)
                    // Before the exit is reported: a server that stops once its containers are gone leaves no group.
                    limits.cgroups.remove(limits.group)
                }
                live.remove(spec.containerID)
                onExit(status)
            }
        } catch {
            if let limits { limits.cgroups.remove(limits.group) }
            live.remove(spec.containerID)
            throw error
        }
        return handle
    }

    public func finish(within timeout: Duration) async {
        for handle in live.all { handle.kill() }
        let deadline = ContinuousClock.now + timeout
        while !live.all.isEmpty && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// A container reaches a control plane on this host through its Unix socket, shown in the box (and usable by
    /// the container's uid); a TCP address is left as it is, reachable while the box shares the host's network.
    private func controlPlaneSocket(_ spec: ContainerSpec, environment: inout [String: String]) throws -> String? {
        let address = environment[AloftEnvironment.controlPlaneAddress] ?? ""
        guard address.hasPrefix("unix:") else {
            guard !spec.resources.blockNetwork else {
                throw AloftError(
                    .invalidConfiguration,
                    "function '\(spec.functionName)' blocks its network, which needs the control plane's Unix socket: "
                        + "its containers run only on the server's own host")
            }
            return nil
        }
        let socket = String(address.dropFirst("unix:".count))
        // Every connection on it still authenticates (a container's token is its own).
        _ = chmod(socket, 0o666)
        environment[AloftEnvironment.controlPlaneAddress] = "unix:" + SandboxCommand.socketInBox
        return socket
    }

    /// A container's uid must be able to run its executable.
    private static func checkExecutable(_ path: String) throws(AloftError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw AloftError(.internalFailure, "could not start \(path): \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & 0o005 == 0o005 else {
            throw AloftError(
                .invalidConfiguration,
                "\(path) is not readable and executable by others (mode \(String(status.st_mode & 0o777, radix: 8))), "
                    + "which a boxed container's own uid needs")
        }
    }
}

/// A container's cgroup, where it has one (as root).
private struct Limits: Sendable {
    let cgroups: Cgroups
    let group: Cgroups.Group
}

/// A boxed container: bubblewrap's process, and the cgroup that holds everything in the box (as root).
private final class SandboxHandle: ContainerHandle, @unchecked Sendable {
    let limits: Limits?
    /// Set once, before `start` returns it.
    var process: SpawnedProcess?
    let killedAtMemoryLimit = Atomic(false)

    init(limits: Limits?) { self.limits = limits }

    var processID: Int32? { process?.pid }
    var wasKilledAtMemoryLimit: Bool { killedAtMemoryLimit.load(ordering: .sequentiallyConsistent) }

    /// The processes in the box: those of its cgroup, or (without one) those under bubblewrap in `/proc`.
    private func processes(of process: SpawnedProcess) -> [Int32] {
        guard let limits else { return ProcessTree.descendants(of: process.pid) }
        return limits.cgroups.processes(in: limits.group)
    }

    /// SIGTERM to the processes in the box (bubblewrap would not pass it on: it would die and take the box with
    /// it; the box's init ignores it, as a PID namespace's init does).
    func terminate() {
        guard let process, process.isRunning else { return }
        for pid in processes(of: process) where pid != process.pid { Foundation.kill(pid, SIGTERM) }
    }

    /// The box's cgroup's CPU time and memory charge; without one, its processes'.
    func usage() -> ContainerUsage? {
        guard let process, process.isRunning else { return nil }
        guard let limits else { return ProcessTree.usage(of: processes(of: process)) }
        guard let cpu = limits.cgroups.cpuSeconds(of: limits.group),
            let memory = limits.cgroups.memoryBytes(of: limits.group)
        else { return ProcessTree.usage(of: processes(of: process)) }
        return ContainerUsage(cpuSeconds: cpu, memoryBytes: memory)
    }

    /// Kills bubblewrap (the box's processes die with it) and whatever is still in the box.
    func kill() {
        guard let process, process.isRunning else { return }
        let inside = processes(of: process)
        process.send(SIGKILL, group: true)
        for pid in inside + (limits.map { $0.cgroups.processes(in: $0.group) } ?? []) { Foundation.kill(pid, SIGKILL) }
    }
}

/// Containers started so far: picks each one's uid.
private final class StartCount: Sendable {
    private let count = Atomic<UInt32>(0)
    func next() -> UInt32 { count.add(1, ordering: .relaxed).oldValue }
}

/// Boxed containers by id, from their start until their cgroup is removed.
private final class LiveContainers: Sendable {
    private let handles = Mutex<[String: SandboxHandle]>([:])
    func add(_ handle: SandboxHandle, id: String) { handles.withLock { $0[id] = handle } }
    func remove(_ id: String) { _ = handles.withLock { $0.removeValue(forKey: id) } }
    var all: [SandboxHandle] { handles.withLock { Array($0.values) } }
}
