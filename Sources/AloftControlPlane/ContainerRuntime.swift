public import AloftCore
public import Foundation

/// What a container is started from.
public struct ContainerSpec: Sendable {
    public var containerID: String
    public var appName: String
    public var functionName: String
    /// The user's executable; in a container it serves functions instead of running its entrypoint.
    public var executable: String
    public var arguments: [String]
    /// Added to the inherited environment.
    public var environment: [String: String]
    /// What it may use; a runtime that does not isolate containers ignores it.
    public var resources: ContainerResources
    /// Also gets what the container prints, as whole lines prefixed (`outputPrefix`) as they are forwarded,
    /// from any thread.
    public var onOutput: (@Sendable (_ lines: Data, _ standardError: Bool) -> Void)?

    /// What each forwarded line of its output starts with (as `modal run` prints it).
    public var outputPrefix: String { Self.outputPrefix(functionName: functionName, containerID: containerID) }

    public static func outputPrefix(functionName: String, containerID: String) -> String {
        "[\(functionName) \(containerID)] "
    }

    public init(
        containerID: String, appName: String, functionName: String, executable: String, arguments: [String],
        environment: [String: String], resources: ContainerResources = ContainerResources(),
        onOutput: (@Sendable (_ lines: Data, _ standardError: Bool) -> Void)? = nil
    ) {
        self.resources = resources
        self.onOutput = onOutput
        self.containerID = containerID
        self.appName = appName
        self.functionName = functionName
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }
}

/// What a container may use: its function's `cpu`, `memory`, `ephemeralDisk` and `blockNetwork` options.
public struct ContainerResources: Sendable, Hashable {
    public var cpu: FunctionOptions.CPU
    public var memory: FunctionOptions.Memory
    /// MiB of writable `/tmp`; `nil`: the runtime's default.
    public var ephemeralDisk: Int?
    public var blockNetwork: Bool
    /// The host's GPU devices given to it (indices, as `CUDA_VISIBLE_DEVICES` numbers them); set by the host that
    /// starts it.
    public var gpuDevices: [Int] = []

    public init(
        cpu: FunctionOptions.CPU = .default, memory: FunctionOptions.Memory = .default, ephemeralDisk: Int? = nil,
        blockNetwork: Bool = false
    ) {
        self.cpu = cpu
        self.memory = memory
        self.ephemeralDisk = ephemeralDisk
        self.blockNetwork = blockNetwork
    }

    /// What a function with `options` asks for.
    public init(_ options: FunctionOptions) {
        self.init(
            cpu: options.cpu, memory: options.memory, ephemeralDisk: options.ephemeralDisk,
            blockNetwork: options.blockNetwork)
    }
}

/// A started container, as the runtime that started it sees it.
public protocol ContainerHandle: Sendable {
    /// The OS process id, where there is one.
    var processID: Int32? { get }
    /// Whether the kernel killed it for going over its memory limit. Known by the time the runtime reports its
    /// exit; always false where the runtime sets no limit.
    var wasKilledAtMemoryLimit: Bool { get }
    /// Asks the container to stop (SIGTERM for a process).
    func terminate()
    /// Stops it now (SIGKILL for a process).
    func kill()
    /// What it has used so far, where the runtime can tell (blocking: reads `/proc` or cgroup files); nil when it
    /// cannot, or the container is gone.
    func usage() -> ContainerUsage?
}

extension ContainerHandle {
    public var wasKilledAtMemoryLimit: Bool { false }
    public func usage() -> ContainerUsage? { nil }
}

/// What a container has used: CPU time since its start and memory now (its processes' resident memory, or its
/// cgroup's charge where it has one).
public struct ContainerUsage: Sendable, Equatable {
    public var cpuSeconds: Double
    public var memoryBytes: Int

    public init(cpuSeconds: Double, memoryBytes: Int) {
        self.cpuSeconds = cpuSeconds
        self.memoryBytes = memoryBytes
    }
}

/// Decides who a client or worker host is from the token in its `Hello`. The embedded control plane has none: every
/// client is the caller's own process or one of its containers. `aloft server` checks the tokens in its store.
public protocol ClientAuthenticator: Sendable {
    /// The workspace of the peer presenting `token`, which must be a token of `kind`. Throws `unauthenticated` for a
    /// missing, unknown, revoked or wrong-kind token; the message must not contain the token.
    func workspace(forToken token: String, kind: StoredToken.Kind) async throws -> String
}

/// Starts containers. The control plane calls `start` on its event loop and must not be blocked for long.
public protocol ContainerRuntime: Sendable {
    /// Starts a container. `onExit` is called once, from any thread, with the exit status when it ends: 128 + n
    /// when a signal n killed it, as a shell reports it (the scheduler names the signal in a crash's error).
    func start(
        _ spec: ContainerSpec, onExit: @escaping @Sendable (_ status: Int32) -> Void
    ) throws -> any ContainerHandle

    /// Once its owner stopped (no container starts any more): kills the containers still running and waits, up to
    /// `timeout`, until what they leave on the host (a boxed container's cgroup) is gone. The owner's process may
    /// exit after it returns.
    func finish(within timeout: Duration) async
}

extension ContainerRuntime {
    public func finish(within timeout: Duration) async {}
}
