public import AloftCore
public import Foundation
public import NIOCore
public import Tracing

/// Settings of a control plane. Every field has a default that suits the embedded control plane.
public struct ControlPlaneConfiguration: Sendable {
    /// Address to listen on. Port 0 picks a free port (the embedded default).
    public var host: String
    public var port: Int
    /// Largest argument or result accepted inline (Modal's 2 MiB).
    public var maxPayloadBytes: Int
    /// Where web endpoints are served (by `aloft server`), for their URLs in registration replies.
    public var webAddresses = WebAddresses()
    /// Containers per function when the function does not set `maxContainers`.
    public var defaultMaxContainers: Int
    /// How long a stopped container may take to exit before it is killed.
    public var containerStopGrace: Duration
    /// A function whose containers exit this many times in a row before serving anything fails its pending inputs.
    public var maxConsecutiveStartFailures: Int
    /// How long a container may take to stop a cancelled input before it is stopped itself (its other inputs are
    /// then run again elsewhere).
    public var cancellationGrace: Duration
    /// How many times an input is run again after its container's worker host was lost or the scheduler stopped
    /// its container under it, without using its retries (Modal caps these at 8), before it fails with
    /// `internalFailure`. These re-runs go to the front of the backlog.
    public var maxInternalFailureRetries: Int
    /// How many times an input is run again after the container running it crashed (its process died while its
    /// host was fine), without using its retries, before it fails with `containerCrashed`. Such an input then runs
    /// alone in a container, waits `Autoscaler.crashRerunDelay` at the back of the backlog, and its pool backs off
    /// starting containers while they keep crashing.
    public var maxCrashRetries: Int
    /// Bounds on unanswered inputs held in memory, per call, connection and workspace.
    public var inputLimits: InputLimits
    /// Also listen on this Unix-domain socket; containers (and an embedded SDK) connect through it, which costs
    /// less than loopback TCP. `nil`: TCP only.
    public var unixSocketPath: String?
    /// Inputs queued on each container beyond its slots, once a function has all the containers it may have:
    /// a container then finds its next input already in its socket. 0 turns it off.
    public var prefetchPerContainer: Int
    /// How containers are started.
    public var containerRuntime: any ContainerRuntime
    /// What this host offers containers: they start here only while their functions' requests fit beside the
    /// others'. `nil` (the embedded default): any container starts here, and none gets a GPU.
    public var localCapacity: HostCapacity?
    /// Where registered functions, accepted spawned calls and their results are kept so that they outlive this
    /// process; `nil` (the embedded default) keeps them in memory only: an ephemeral app lives and dies with its
    /// caller's process.
    public var store: (any ControlPlaneStore)?
    /// Where the lines containers print are kept (`aloft app logs`, the HTTP API's logs): in memory by default (the
    /// newest 8 MiB), `aloft server` keeps them in files of its data directory; `nil` keeps only the newest in memory
    /// for followers.
    public var logStore: (any LogStore)? = InMemoryLogStore()
    /// Seals secret values before `store` keeps them (inline secrets of registrations, named secrets). `aloft
    /// server` sets one; `nil` keeps them as they are, which suits a store in memory only.
    public var secretSealer: (any SecretSealer)?
    /// A dict entry nobody read or wrote for this long is removed (Modal's 7 days).
    public var dictEntryIdleExpiry: Duration = .seconds(7 * 86_400)
    /// Checks clients' tokens; `nil` (the embedded default) trusts every client. With one, each client works in
    /// its token's workspace and sees only that workspace's functions and calls; containers get a token of their
    /// own for the calls their bodies make.
    public var authenticator: (any ClientAuthenticator)?
    /// How often the tokens of open connections are checked again with the authenticator: a connection whose token
    /// was revoked or expired is closed within about this long.
    public var tokenRecheckInterval: Duration
    /// How long a spawned call's results can be fetched after it finished (Modal: 7 days). With a store only.
    public var resultRetention: Duration
    /// Where deployed executables are (`aloft deploy` uploads them); `nil`: nothing can be deployed.
    public var artifacts: (any ArtifactStore)?
    /// Whether this host runs containers itself (the server's embedded worker). When false, deployed functions run
    /// only on worker hosts (`aloft worker`); functions registered from a local executable path still run here.
    public var runsContainersLocally: Bool
    /// A worker host that sends no heartbeat for this long is lost: its containers' inputs run again elsewhere.
    public var workerLease: Duration
    /// Bounds on the wire port's connections: how many, from one peer before they are welcomed, how long a hello
    /// may take and how long a welcomed client may stay idle.
    public var connectionLimits: ConnectionLimits
    /// The event loop group to run on (the control plane uses one loop of it); `nil` makes a group of its own.
    /// The embedded control plane shares the SDK's, so a call to it never wakes another thread.
    public var eventLoopGroup: (any EventLoopGroup)?
    /// Records a span per call, per attempt (queue wait, run) and per cold start, continuing the trace context
    /// callers send (docs/tracing.md); `nil`: the process's bootstrapped tracer (`InstrumentationSystem`), if it has
    /// one, else no spans.
    public var tracer: (any Tracer)?

    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        unixSocketPath: String? = nil,
        maxPayloadBytes: Int = AloftLimits.defaultMaxPayloadBytes,
        defaultMaxContainers: Int = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount),
        containerStopGrace: Duration = .seconds(5),
        maxConsecutiveStartFailures: Int = 3,
        prefetchPerContainer: Int = 16,
        maxInternalFailureRetries: Int = 8,
        maxCrashRetries: Int = 2,
        inputLimits: InputLimits = InputLimits(),
        cancellationGrace: Duration = .seconds(5),
        containerRuntime: any ContainerRuntime = ProcessContainerRuntime(),
        store: (any ControlPlaneStore)? = nil,
        authenticator: (any ClientAuthenticator)? = nil,
        tokenRecheckInterval: Duration = .seconds(2),
        resultRetention: Duration = .seconds(7 * 24 * 3600),
        eventLoopGroup: (any EventLoopGroup)? = nil,
        artifacts: (any ArtifactStore)? = nil,
        runsContainersLocally: Bool = true,
        workerLease: Duration = .seconds(10),
        connectionLimits: ConnectionLimits = ConnectionLimits()
    ) {
        self.connectionLimits = connectionLimits
        self.artifacts = artifacts
        self.runsContainersLocally = runsContainersLocally
        self.workerLease = workerLease
        self.host = host
        self.port = port
        self.unixSocketPath = unixSocketPath
        self.maxPayloadBytes = maxPayloadBytes
        self.defaultMaxContainers = defaultMaxContainers
        self.containerStopGrace = containerStopGrace
        self.maxConsecutiveStartFailures = maxConsecutiveStartFailures
        self.prefetchPerContainer = prefetchPerContainer
        self.maxInternalFailureRetries = maxInternalFailureRetries
        self.maxCrashRetries = maxCrashRetries
        self.inputLimits = inputLimits
        self.cancellationGrace = cancellationGrace
        self.containerRuntime = containerRuntime
        self.store = store
        self.authenticator = authenticator
        self.tokenRecheckInterval = tokenRecheckInterval
        self.resultRetention = resultRetention
        self.eventLoopGroup = eventLoopGroup
    }
}
