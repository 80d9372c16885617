public import AloftCore
package import AloftWire
public import Foundation
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// The control plane: accepts callers and containers on a TCP socket (and a Unix-domain socket, if configured), queues inputs, starts containers on
/// demand and routes results back. Run it as a `Service` in a `ServiceGroup`; graceful shutdown closes the
/// listener, stops every container (SIGKILL after `containerStopGrace`) and returns.
///
/// It never imports the SDK: the embedded default links it beside the SDK, a standalone server wraps it.
public final class ControlPlane: Service, Sendable {
    public let configuration: ControlPlaneConfiguration
    private let logger: Logger
    private let boundAddress = Mutex<BoundAddressState>(.waiting([]))
    /// The scheduler while `run()` runs, for the in-process calls.
    private let runningState = Mutex<Scheduler?>(nil)
    /// Deployments, stops and rollbacks run one at a time (each reads the app's versions, then changes them).
    let deployments = SerialGate()
    /// The lines containers print, numbered across restarts where the log store keeps them.
    let logs: LogBook
    /// The gauges set at the last `updateGauges` (Metrics/).
    let gauges = Gauges()

    private enum BoundAddressState {
        case waiting([CheckedContinuation<Addresses, any Error>])
        case bound(Addresses)
        case failed(any Error)
    }

    /// Where the control plane listens.
    public struct Addresses: Sendable, Hashable {
        /// For clients and containers on this host: `unix:<path>` when there is a Unix socket, else `tcp`.
        public var local: String
        /// `host:port` of the TCP listener.
        public var tcp: String
    }

    public init(
        configuration: ControlPlaneConfiguration = .init(), logger: Logger = Logger(label: "aloft.control-plane")
    ) {
        self.configuration = configuration
        self.logger = logger
        self.logs = LogBook(store: configuration.logStore, logger: logger)
    }

    /// The address a client on this host should use, once the control plane listens: `unix:<path>` when it has a
    /// Unix-domain socket, else `host:port`.
    public func listeningAddress() async throws -> String {
        try await addresses().local
    }

    /// Both addresses, once the control plane listens (or its error, if it could not start).
    public func addresses() async throws -> Addresses {
        try await withCheckedThrowingContinuation { continuation in
            boundAddress.withLock { state in
                switch state {
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state = .waiting(waiters)
                case .bound(let address): continuation.resume(returning: address)
                case .failed(let error): continuation.resume(throwing: error)
                }
            }
        }
    }

    private func publish(_ result: Result<Addresses, any Error>) {
        let waiters = boundAddress.withLock { state -> [CheckedContinuation<Addresses, any Error>] in
            guard case .waiting(let waiters) = state else { return [] }
            switch result {
            case .success(let address): state = .bound(address)
            case .failure(let error): state = .failed(error)
            }
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    public func run() async throws {
        AllocatorTuning.apply()
        // One event loop: every scheduler decision happens on it, in order, without locks.
        let ownGroup: MultiThreadedEventLoopGroup? =
            configuration.eventLoopGroup == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let group: any EventLoopGroup = configuration.eventLoopGroup ?? ownGroup!
        let state = Scheduler(loop: group.next(), configuration: configuration, logger: logger, logs: logs)
        var stored = StoredState()
        let listeners: Listeners
        do {
            if let store = configuration.store {
                try await store.open()
                stored = try await store.load()
            }
            try logs.open()
            listeners = try await listen(on: group, for: state)
        } catch {
            publish(.failure(error))
            try? await ownGroup?.shutdownGracefully()
            throw error
        }
        let addresses = listeners.addresses
        try await state.loop.submit { [stored] in
            state.address = addresses.local
            state.restore(stored)
            state.startReaper()
        }.get()
        runningState.withLock { $0 = state }
        defer { runningState.withLock { $0 = nil } }
        logger.info(
            "control plane listening",
            metadata: ["aloft.address": "\(addresses.tcp)", "aloft.local_address": "\(addresses.local)"])
        publish(.success(addresses))

        let channels = listeners.channels
        await withTaskCancellationOrGracefulShutdownHandler {
            for listener in channels { try? await listener.closeFuture.get() }
        } onCancelOrGracefulShutdown: {
            // Containers first: while they stop, the listeners still answer the ones that are starting.
            state.loop.flatSubmit { state.shutdown() }.whenComplete { _ in
                for listener in channels { listener.close(promise: nil) }
            }
        }
        await stop(state, ownGroup: ownGroup)
    }

    private struct Listeners {
        var channels: [any Channel]
        var addresses: Addresses
    }

    /// Binds the TCP listener and, if configured, the Unix socket; both hand connections to `state`.
    private func listen(on group: any EventLoopGroup, for state: Scheduler) async throws -> Listeners {
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
            channel.eventLoop.makeCompletedFuture { try state.installConnectionPipeline(on: channel) }
        }
        let sendBuffer = SocketOptionValue(AloftLimits.socketSendBufferBytes)
        var listeners: [any Channel] = []
        do {
            let tcp = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.socketOption(.so_sndbuf), value: sendBuffer)
                .childChannelInitializer(initializer)
                .bind(host: configuration.host, port: configuration.port)
                .get()
            listeners.append(tcp)
            let address = "\(configuration.host):\(tcp.localAddress?.port ?? configuration.port)"
            if let path = configuration.unixSocketPath {
                let unix = try await ServerBootstrap(group: group)
                    .serverChannelOption(.backlog, value: 256)
                    .childChannelOption(.socketOption(.so_sndbuf), value: sendBuffer)
                    .childChannelInitializer(initializer)
                    .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
                    .get()
                listeners.append(unix)
            }
            // Containers on this host, and an embedded SDK, use the Unix socket when there is one: it is cheaper.
            let local = configuration.unixSocketPath.map { "unix:" + $0 } ?? address
            return Listeners(channels: listeners, addresses: Addresses(local: local, tcp: address))
        } catch {
            for listener in listeners { try? await listener.close() }
            throw error
        }
    }

    /// After the listeners closed: the containers are stopped, the store drained and closed, the connections still
    /// open closed, and the event loop group (if it is this control plane's own) shut down.
    private func stop(_ state: Scheduler, ownGroup: MultiThreadedEventLoopGroup?) async {
        if let path = configuration.unixSocketPath { try? FileManager.default.removeItem(atPath: path) }
        try? await state.loop.flatSubmit { state.shutdown() }.get()
        if let store = configuration.store {
            try? await state.loop.flatSubmit { state.storeDrained() }.get()
            await store.close()
        }
        try? await state.loop.submit { state.closeConnections() }.get()
        logs.close()
        if let ownGroup {
            state.loopClosing.store(true, ordering: .sequentiallyConsistent)
            try? await ownGroup.shutdownGracefully()
        }
    }
}

// MARK: In-process calls

extension ControlPlane {
    /// Opens a connection for a caller in this process, which speaks the wire protocol without a socket: `deliver`
    /// gets each frame the control plane sends it (on the control plane's event loop; it must not block), `onClose`
    /// is called once when the connection closes, by either side. The caller says hello first, as on a socket.
    package func connectInProcess(
        deliver: @escaping @Sendable (Aloft_V1_Envelope) -> Void, onClose: @escaping @Sendable () -> Void
    ) async throws -> InProcessConnection {
        let state = try runningScheduler()
        return try await state.loop.submit {
            let connection = InProcessConnection(scheduler: state, deliver: deliver, onClose: onClose)
            connection.open()
            return connection
        }.get()
    }
}

/// How a call made through the control plane's in-process API ended.
public enum CallOutcome: Sendable {
    /// The result's payload as the container encoded it: JSON, or a `Data` result's bytes followed by a 0 byte.
    case success(Data)
    case failure(AloftError)
}

extension ControlPlane {
    /// Runs one input of function `function` of app `app` (registered by a run of the app against this control
    /// plane) and returns how it ended. `payload` is the argument as the SDK encodes it (JSON).
    /// `workspace` is the caller's (its token's; empty without an authenticator).
    public func invoke(workspace: String = "", app: String, function: String, payload: Data) async throws -> CallOutcome
    {
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: Aloft_V1_Result.self)
        state.loop.execute {
            state.invokeLocally(workspace: workspace, app: app, function: function, payload: payload, promise: promise)
        }
        return CallOutcome(try await promise.futureResult.get())
    }

    /// Spawns a call with one input and returns its id once it is accepted (stored, when there is a store).
    public func spawn(workspace: String = "", app: String, function: String, payload: Data) async throws -> String {
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: String.self)
        state.loop.execute {
            state.spawnLocally(workspace: workspace, app: app, function: function, payload: payload, promise: promise)
        }
        return try await promise.futureResult.get()
    }

    /// The outcome of a spawned call, waiting up to `timeout` (`nil`: until it finishes); `nil` if it has not
    /// finished by then. Throws `notFound` for a call this control plane never accepted or whose result expired.
    public func outcome(workspace: String = "", ofCall callID: String, timeout: Duration?) async throws -> CallOutcome?
    {
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: Aloft_V1_Result?.self)
        let timeoutMs = timeout?.wireMilliseconds ?? -1
        state.loop.execute {
            state.resultLocally(workspace: workspace, callID: callID, index: 0, timeoutMs: timeoutMs, promise: promise)
        }
        return try await promise.futureResult.get().map(CallOutcome.init)
    }

    func runningScheduler() throws -> Scheduler {
        guard let state = runningState.withLock({ $0 }) else {
            throw AloftError(.connectionFailed, "the control plane is not running")
        }
        return state
    }
}

extension CallOutcome {
    init(_ result: Aloft_V1_Result) {
        self = result.status == .success ? .success(result.data) : .failure(result.aloftError)
    }
}
