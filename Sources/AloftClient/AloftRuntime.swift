import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
package import NIOPosix
import Synchronization

/// Runs tasks' jobs on a NIO event loop. Only Aloft's own async code runs here, never a user's body.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop
    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// The process-wide runtime: the event loop that carries the wire protocol, the thread on which blocking calls
/// run their async implementation, and the connections to control planes.
package final class AloftRuntime: Sendable {
    package static let shared = AloftRuntime()
    /// This process was started by a control plane as a container.
    static let isContainer = !(ProcessInfo.processInfo.environment[AloftEnvironment.containerID] ?? "").isEmpty
    /// `ALOFT_ARTIFACT`: this executable's hash on the server, when `aloft run` uploaded it.
    static let artifact = ProcessInfo.processInfo.environment[AloftEnvironment.artifact] ?? ""

    /// The runtime's event loop: it carries every connection, and (through `loopExecutor`) runs the async half of
    /// every blocking call, so that a blocking call costs no more thread wake-ups than an async one. The embedded
    /// control plane shares it.
    package let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loopExecutor: EventLoopTaskExecutor
    /// Where blocking calls that run a user's code in their async half go (an async body run by the blocking
    /// `local`, the input sequence of a blocking `map`), so that a user's code never runs on the event loop.
    let userCodeExecutor = DedicatedThreadExecutor(name: "aloft-user-code")
    let logger: Logger
    private let connections = Mutex<[String: Task<WireConnection, any Error>]>([:])
    /// The connection keys that had an open connection once: failing to reach one again is likely a restart, worth
    /// waiting out, where one never reached fails at once.
    private let everConnected = Mutex<Set<String>>([])
    private let asyncUsageWarnings = Atomic<Int>(0)
    /// `ALOFT_CONTROL_PLANE`, read once: the environment is not read on the call path.
    let controlPlaneOverride: String?
    /// The control plane that calls made in this task (and the tasks it starts) go to, whatever their app's
    /// provider and `ALOFT_CONTROL_PLANE` say: AloftTesting's control plane of one test.
    @TaskLocal package static var providerOverride: (any ControlPlaneProvider)?
    /// What a blocking call from async code does (`ALOFT_ASYNC_WARNINGS`): warn (default), nothing (`0`), or
    /// fail with `blockingCallInAsyncContext` (`error`).
    private let asyncWarnings: AsyncWarnings

    private enum AsyncWarnings {
        case warn, off, error
    }
    /// `ALOFT_TOKEN`, read once: this runs on every call.
    private let environmentToken: String?

    private init() {
        AllocatorTuning.apply()
        var logger = Logger(label: "aloft")
        let level = ProcessInfo.processInfo.environment[AloftEnvironment.logLevel].flatMap(Logger.Level.init(rawValue:))
        logger.logLevel = level ?? .warning
        self.logger = logger
        let environment = ProcessInfo.processInfo.environment
        controlPlaneOverride = environment[AloftEnvironment.controlPlaneAddress].flatMap { $0.isEmpty ? nil : $0 }
        asyncWarnings =
            switch environment[AloftEnvironment.asyncWarnings] {
            case "0", "off": .off
            case "error": .error
            default: .warn
            }
        environmentToken = environment[AloftEnvironment.token].flatMap { $0.isEmpty ? nil : $0 }
        self.loopExecutor = EventLoopTaskExecutor(loop: eventLoopGroup.next())
    }

    /// How long calls through `provider` try to reconnect after their connection closed: a server is worth waiting
    /// for; an embedded control plane that went away is not coming back.
    func reconnectWindow(for provider: any ControlPlaneProvider) -> Duration {
        if let override = Self.providerOverride { return override.reconnectWindow }
        return controlPlaneOverride != nil ? .seconds(60) : provider.reconnectWindow
    }

    /// Where calls through `appProvider` go: the address, the token, and the key of their connection (one
    /// connection per address and token: two tokens are two identities, workspaces).
    private func target(
        for appProvider: any ControlPlaneProvider
    ) async throws -> (address: String, token: String?, key: String, inProcess: (any InProcessControlPlane)?) {
        let address: String
        let override = Self.providerOverride
        let provider = override ?? appProvider
        var inProcess: (any InProcessControlPlane)?
        if override == nil, let controlPlaneOverride {
            address = controlPlaneOverride
        } else {
            address = try await provider.address()
            inProcess = provider as? any InProcessControlPlane
        }
        guard !address.isEmpty else {
            throw AloftError(
                .invalidConfiguration,
                "no control plane: set \(AloftEnvironment.controlPlaneAddress)=host:port, or import Aloft for the embedded one"
            )
        }
        let token = provider.token ?? environmentToken
        return (address, token, token.map { address + " " + String($0.hashValue) } ?? address, inProcess)
    }

    /// Whether this process had an open connection to the control plane of `provider` before.
    func hasConnected(to provider: any ControlPlaneProvider) async -> Bool {
        guard let key = try? await target(for: provider).key else { return false }
        return everConnected.withLock { $0.contains(key) }
    }

    /// The connection to the control plane of `provider`, opened on first use and reopened if it broke.
    func connection(for appProvider: any ControlPlaneProvider) async throws -> WireConnection {
        let (address, token, key, inProcess) = try await target(for: appProvider)
        // A cached connection that has closed (the control plane restarted or went away) is replaced once.
        for attempt in 1...2 {
            let task = connections.withLock { connections in
                if let existing = connections[key] { return existing }
                let task = Task { [eventLoopGroup] in
                    // Pushed outputs are routed by a key of this connection alone: the close of an old connection must
                    // not fail calls already made on its replacement.
                    let connectionKey = key + " #" + UUID().uuidString
                    let onPush: @Sendable (Aloft_V1_Envelope) -> Void = { PushedOutputRouter.shared.route($0) }
                    let onClose: @Sendable () -> Void = { PushedOutputRouter.shared.connectionClosed(connectionKey) }
                    let connection =
                        if let inProcess {
                            try await WireConnection.connect(
                                inProcess: inProcess, token: token, key: connectionKey, onPush: onPush, onClose: onClose
                            )
                        } else {
                            try await WireConnection.connect(
                                to: address, group: eventLoopGroup, role: .client, token: token, key: connectionKey,
                                onPush: onPush, onClose: onClose)
                        }
                    self.everConnected.withLock { _ = $0.insert(key) }
                    return connection
                }
                connections[key] = task
                return task
            }
            do {
                let connection = try await task.value
                if connection.isOpen { return connection }
                connections.withLock { if $0[key] == task { $0[key] = nil } }
                if attempt == 2 {
                    throw AloftError(.connectionFailed, "the connection to the control plane at \(address) closed")
                }
            } catch {
                connections.withLock { if $0[key] == task { $0[key] = nil } }
                throw error
            }
        }
        throw AloftError(.connectionFailed, "the connection to the control plane at \(address) closed")
    }

    /// True on the runtime's own threads, where a blocking call would wait for itself.
    var isOnRuntimeThread: Bool {
        eventLoopGroup.any().inEventLoop
    }

    /// Number of blocking calls made from async code so far (each logged the warning unless it was turned off).
    package var asyncUsageWarningCount: Int { asyncUsageWarnings.load(ordering: .relaxed) }

    /// Runs `operation` on the runtime's thread and waits for it: the blocking form of every async call.
    ///
    /// - Parameter asyncForm: how the async form of this call is spelled, for the error and the warning.
    ///   - runsUserCode: the operation runs a user's code (a body, an input sequence): it goes to a dedicated thread
    ///     instead of the event loop.
    package func runBlocking<T: Sendable>(
        asyncForm: String, runsUserCode: Bool = false, _ operation: @escaping @Sendable () async throws -> T
    ) throws -> T {
        if isOnRuntimeThread || (runsUserCode && userCodeExecutor.isCurrentThread) {
            throw AloftError(
                .blockingCallOnRuntimeThread,
                """
                a blocking Aloft call was made on one of the Aloft runtime's own threads, where waiting would deadlock; \
                use the async form `\(asyncForm)` instead
                """)
        }
        if withUnsafeCurrentTask(body: { $0 != nil }) {
            asyncUsageWarnings.add(1, ordering: .relaxed)
            switch asyncWarnings {
            case .warn:
                logger.warning(
                    """
                    A blocking Aloft call is being used in an async context; it blocks this thread until it finishes. \
                    Suggested rewrite: `\(asyncForm)`. Set \(AloftEnvironment.asyncWarnings)=0 to silence this warning, \
                    or =error to make it an error.
                    """)
            case .error:
                throw AloftError(
                    .blockingCallInAsyncContext,
                    """
                    a blocking Aloft call was made in an async context (\(AloftEnvironment.asyncWarnings)=error); \
                    use the async form `\(asyncForm)`
                    """)
            case .off: break
            }
        }
        let result = BlockingResult<T>()
        let executor: any TaskExecutor = runsUserCode ? userCodeExecutor : loopExecutor
        Task(executorPreference: executor) {
            do { result.set(.success(try await operation())) } catch { result.set(.failure(error)) }
        }
        return try result.wait()
    }
}
