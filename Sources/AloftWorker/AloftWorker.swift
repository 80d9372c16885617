import AloftControlPlane
public import AloftCore
import AloftWire
import Crypto
import Foundation
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `aloft worker`: a host that runs containers for a server. It registers its capacity, heartbeats, starts the
/// containers the server assigns (fetching each deployed executable once, by hash) and reports their exits. When the
/// connection to the server is lost it stops its containers (the server runs their inputs elsewhere) and reconnects.
/// A `Service`: SIGTERM stops its containers and exits.
public final class AloftWorker: Service {
    public let configuration: WorkerConfiguration
    private let logger: Logger
    /// How containers run here, and why (logged at start).
    private let isolation: ContainerIsolation.Choice
    private let cache: ArtifactCache
    /// The way to the server of containers without a network, listening once the first such container starts.
    private let relay: ControlPlaneRelay?
    /// Containers assigned here, by id: starting (fetching the executable; a stop asked for then is remembered), or
    /// running.
    private let running = Mutex<[String: Slot]>([:])

    private enum Slot {
        case starting(stopRequested: Bool)
        case running(any ContainerHandle)
    }

    /// Throws `invalidConfiguration` when `configuration.isolation` is `bwrap` and this host cannot box containers.
    public init(configuration: WorkerConfiguration, logger: Logger = Logger(label: "aloft.worker")) throws(AloftError) {
        self.isolation = try configuration.isolation.choose()
        self.configuration = configuration
        self.logger = logger
        self.cache = ArtifactCache(
            directory: configuration.cacheDirectory, apiURL: configuration.apiURL, token: configuration.token)
        // In the cache directory (the worker's own), unless that path is too long for a socket (108 bytes).
        var socket = (configuration.cacheDirectory as NSString).appendingPathComponent("control.sock")
        if socket.utf8.count >= 100 {
            socket = (NSTemporaryDirectory() as NSString).appendingPathComponent("aloft-worker-\(getpid()).sock")
        }
        self.relay = (try? WireEndpoint(configuration.serverAddress)).map {
            ControlPlaneRelay(path: socket, server: $0)
        }
    }

    public func run() async throws {
        StandardStream.ignoreBrokenPipes()
        logger.log(level: isolation.fellBack ? .warning : .info, "\(isolation.description)")
        do {
            try await relay?.start()
        } catch {
            logger.warning(
                "no relay socket for containers without a network: they cannot reach the server",
                metadata: ["aloft.path": "\(relay?.path ?? "")", "aloft.error": "\(error)"])
        }
        try await cancelWhenGracefulShutdown {
            var announced = false
            while !Task.isCancelled {
                do {
                    try await self.session(announce: !announced)
                    announced = true
                } catch let error as AloftError where error.code == .unauthenticated || error.code == .protocolError {
                    self.stopContainers()
                    throw error  // retrying cannot help
                } catch {
                    if !Task.isCancelled {
                        self.logger.warning(
                            "not connected to the server; retrying",
                            metadata: [
                                "aloft.server": "\(self.configuration.serverAddress)", "aloft.error": "\(error)",
                            ])
                    }
                }
                self.stopContainers()
                try? await Task.sleep(for: self.configuration.reconnectDelay)
            }
        }
        stopContainers()
        await isolation.runtime.finish(within: .seconds(5))
        await relay?.stop()
    }

    /// One connection: hello, register, then serve assignments and heartbeat until the server goes away.
    private func session(announce: Bool) async throws {
        let channel = try await connect()
        try await channel.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            try await register(replies: &replies, outbound: outbound, announce: announce)
            // Everything this host sends goes through one queue, so a container's last lines precede its exit.
            let (messages, queue) = AsyncStream.makeStream(of: Aloft_V1_Envelope.OneOf_Body.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await body in messages { try await outbound.write(Aloft_V1_Envelope(requestID: 0, body: body)) }
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: self.configuration.heartbeatInterval)
                        queue.yield(.workerHeartbeat(self.heartbeat()))
                    }
                }
                while let envelope = try await replies.next() {
                    switch envelope.body {
                    case .containerStart(let start):
                        running.withLock { $0[start.containerID] = .starting(stopRequested: false) }
                        group.addTask { await self.start(start, queue: queue) }
                    case .containerSignal(let signal):
                        self.signal(signal)
                    default:
                        logger.debug("ignored a message from the server")
                    }
                }
                queue.finish()
                group.cancelAll()
            }
        }
        throw AloftError(.connectionFailed, "the server closed the connection")
    }

    private typealias ServerChannel = NIOAsyncChannel<Aloft_V1_Envelope, Aloft_V1_Envelope>

    private func connect() async throws -> ServerChannel {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<ServerChannel> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addAloftFraming()
                return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
            }
        }
        switch try WireEndpoint(configuration.serverAddress) {
        case .tcp(let host, let port):
            return try await bootstrap.channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port, channelInitializer: initializer)
        case .unix(let path):
            return try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
        }
    }

    /// Says hello with the worker token and registers this host's capacity.
    private func register(
        replies: inout NIOAsyncChannelInboundStream<Aloft_V1_Envelope>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<Aloft_V1_Envelope>, announce: Bool
    ) async throws {
        let hello = Aloft_V1_Hello(role: .worker, token: configuration.token)
        try await outbound.write(Aloft_V1_Envelope(requestID: 1, body: .hello(hello)))
        try Self.expect(try await replies.next(), "hello")
        var register = Aloft_V1_WorkerRegister()
        register.name = configuration.name
        register.maxContainers = UInt32(configuration.maxContainers)
        register.cpus = UInt32(max(1, configuration.capacity.cpus.rounded()))
        register.cpuCores = configuration.capacity.cpus
        register.memoryBytes = UInt64(configuration.capacity.memoryMiB) << 20
        register.gpus = configuration.capacity.gpus
        try await outbound.write(Aloft_V1_Envelope(requestID: 2, body: .workerRegister(register)))
        try Self.expect(try await replies.next(), "registering")
        let message =
            "aloft worker \(configuration.name) connected to \(configuration.serverAddress) (up to \(configuration.maxContainers) containers; \(configuration.capacity))\n"
        if announce { StandardStream.output.write(message) }
        logger.info("connected to the server", metadata: ["aloft.server": "\(configuration.serverAddress)"])
    }

    /// A heartbeat, with what each running container has used so far (read from /proc or its cgroup).
    private func heartbeat() -> Aloft_V1_WorkerHeartbeat {
        let handles = running.withLock { running in
            running.compactMap { id, slot -> (String, any ContainerHandle)? in
                if case .running(let handle) = slot { (id, handle) } else { nil }
            }
        }
        var heartbeat = Aloft_V1_WorkerHeartbeat()
        heartbeat.containers = handles.compactMap { id, handle in
            handle.usage().map { usage in
                var report = Aloft_V1_ContainerUsageReport()
                report.containerID = id
                report.cpuSeconds = usage.cpuSeconds
                report.memoryBytes = UInt64(max(0, usage.memoryBytes))
                return report
            }
        }
        return heartbeat
    }

    /// A signal for one of this host's containers; one still starting is stopped as soon as it has started.
    private func signal(_ signal: Aloft_V1_ContainerSignal) {
        let handle = running.withLock { running -> (any ContainerHandle)? in
            switch running[signal.containerID] {
            case .running(let handle): return handle
            case .starting: running[signal.containerID] = .starting(stopRequested: true)
            case nil: break
            }
            return nil
        }
        if signal.kill { handle?.kill() } else { handle?.terminate() }
    }

    /// Fetches the executable, starts the container, and reports its exit (or why it could not start).
    private func start(
        _ start: Aloft_V1_ContainerStart, queue: AsyncStream<Aloft_V1_Envelope.OneOf_Body>.Continuation
    ) async {
        let report: @Sendable (Int32, String, Bool) -> Void = { [self] status, reason, outOfMemory in
            running.withLock { $0[start.containerID] = nil }
            var exited = Aloft_V1_ContainerExited()
            exited.containerID = start.containerID
            exited.status = status
            exited.reason = reason
            exited.outOfMemory = outOfMemory
            queue.yield(.containerExited(exited))
        }
        do {
            let executable = try await cache.path(for: start.artifact)
            var environment = start.environment
            environment[AloftEnvironment.controlPlaneAddress] = configuration.serverAddress
            if start.resources.blockNetwork, let relay {
                // Its box has no network: it reaches the server through this host's relay socket.
                environment[AloftEnvironment.controlPlaneAddress] = "unix:" + relay.path
            }
            environment[AloftEnvironment.workerName] = configuration.name
            var resources = ContainerResources(
                cpu: start.resources.cpu, memory: start.resources.memory,
                ephemeralDisk: start.resources.ephemeralDiskMib > 0 ? Int(start.resources.ephemeralDiskMib) : nil,
                blockNetwork: start.resources.blockNetwork)
            resources.gpuDevices = start.gpuDevices.map { Int($0) }
            let spec = ContainerSpec(
                containerID: start.containerID, appName: start.appName, functionName: start.functionName,
                executable: executable, arguments: start.arguments, environment: environment,
                resources: resources
            ) { lines, standardError in
                var output = Aloft_V1_ContainerOutput()
                output.containerID = start.containerID
                output.data = lines
                output.standardError = standardError
                queue.yield(.containerOutput(output))
            }
            guard case .starting(stopRequested: false) = running.withLock({ $0[start.containerID] }) else {
                // Stopped while its executable was fetched, or the session ended.
                report(-1, "was stopped before it started", false)
                return
            }
            // The exit may come before `start` returns: the handle reaches it through `started`.
            let started = StartedHandle()
            let handle = try isolation.runtime.start(spec) { status in
                let outOfMemory = started.handle.withLock { $0?.wasKilledAtMemoryLimit } ?? false
                report(status, "", outOfMemory)
            }
            started.handle.withLock { $0 = handle }
            let stopNow = running.withLock { running -> Bool in
                // exited, or session over
                guard case .starting(let stopRequested) = running[start.containerID] else { return true }
                running[start.containerID] = .running(handle)
                return stopRequested
            }
            if stopNow { handle.kill() }
        } catch {
            logger.error(
                "could not start a container",
                metadata: ["aloft.container_id": "\(start.containerID)", "aloft.error": "\(error)"])
            report(-1, "could not be started on worker host \(configuration.name): \(error)", false)
        }
    }

    private func stopContainers() {
        let handles = running.withLock { running in
            defer { running.removeAll() }
            return running.values.compactMap { slot -> (any ContainerHandle)? in
                if case .running(let handle) = slot { return handle } else { return nil }
            }
        }
        for handle in handles { handle.kill() }
    }

    private static func expect(_ reply: Aloft_V1_Envelope?, _ what: String) throws {
        switch reply?.body {
        case .helloReply, .ack: return
        case .error(let error):
            let refusal = error.aloftError
            throw AloftError(refusal.code, "the server refused this worker (\(what)): \(refusal.message)")
        case nil: throw AloftError(.connectionFailed, "the server closed the connection while \(what)")
        default: throw AloftError(.protocolError, "unexpected reply from the server while \(what)")
        }
    }
}

/// Executables fetched from the server's artifact store, kept by hash: each is downloaded once, checked against its
/// hash, and made executable before it is used.
actor ArtifactCache {
    let directory: String
    let apiURL: String
    let token: String
    private var downloads: [String: Task<String, any Error>] = [:]

    init(directory: String, apiURL: String, token: String) {
        self.directory = directory
        self.apiURL = apiURL
        self.token = token
    }

    func path(for digest: String) async throws -> String {
        guard Hex.isSHA256(digest) else {
            throw AloftError(.invalidArgument, "'\(digest)' is not an artifact hash")
        }
        let path = (directory as NSString).appendingPathComponent(digest)
        if FileManager.default.isExecutableFile(atPath: path) { return path }
        if let download = downloads[digest] { return try await download.value }
        let download = Task { try await fetch(digest, to: path) }
        downloads[digest] = download
        defer { downloads[digest] = nil }
        // A session that ends (the server went away) cancels its starts, and with them the download.
        return try await withTaskCancellationHandler {
            try await download.value
        } onCancel: {
            download.cancel()
        }
    }

    private func fetch(_ digest: String, to path: String) async throws -> String {
        guard let url = URL(string: "\(apiURL)/v1/artifacts/\(digest)") else {
            throw AloftError(.invalidConfiguration, "bad API URL \(apiURL)")
        }
        var request = URLRequest(url: url)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.timeoutInterval = 600
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else {
            throw AloftError(
                .connectionFailed,
                "fetching executable \(digest.prefix(12)) from \(apiURL) failed: HTTP \(status) \(String(decoding: data.prefix(300), as: UTF8.self))"
            )
        }
        let actual = Hex.string(SHA256.hash(data: data))
        guard actual == digest else {
            throw AloftError(
                .internalFailure, "executable \(digest.prefix(12)) arrived corrupted (hash \(actual.prefix(12)))")
        }
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = path + ".partial-\(UUID().uuidString)"
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
            // The folder keeps others out; a boxed container's own uid must read and run the file.
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: temporary)
            guard rename(temporary, path) == 0 else {
                throw AloftError(.internalFailure, "cannot move the executable into \(path): errno \(errno)")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        return path
    }
}

/// A container's handle, for its exit callback, which `start` creates before the handle exists.
private final class StartedHandle: Sendable {
    let handle = Mutex<(any ContainerHandle)?>(nil)
}
