import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The process-wide runtime: the event loop that carries the wire protocol, the thread on which blocking calls
/// run their async implementation, and the connections to control planes.
public final class AloftRuntime: Sendable {
    public static let shared = AloftRuntime()

    let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    /// Where the async half of every blocking call runs: not the cooperative pool, so a blocking call made
    /// from async code (which holds a pool thread) cannot starve it.
    let executor = DedicatedThreadExecutor(name: "aloft-runtime")
    let logger: Logger
    private let connections = Mutex<[String: Task<WireConnection, any Error>]>([:])
    private let asyncUsageWarnings = Atomic<Int>(0)

    private init() {
        var logger = Logger(label: "aloft")
        let level = ProcessInfo.processInfo.environment[AloftEnvironment.logLevel].flatMap(Logger.Level.init(rawValue:))
        logger.logLevel = level ?? .warning
        self.logger = logger
    }

    /// The connection to the control plane of `provider`, opened on first use and reopened if it broke.
    func connection(for provider: any ControlPlaneProvider) async throws -> WireConnection {
        let override = ProcessInfo.processInfo.environment[AloftEnvironment.controlPlaneAddress].flatMap { $0.isEmpty ? nil : $0 }
        let address: String
        if let override { address = override } else { address = try await provider.address() }
        guard !address.isEmpty else {
            throw AloftError(.invalidConfiguration, "no control plane: set \(AloftEnvironment.controlPlaneAddress)=host:port, or import Aloft for the embedded one")
        }
        let task = connections.withLock { connections in
            if let existing = connections[address] { return existing }
            let task = Task { [eventLoopGroup] in
                try await WireConnection.connect(to: address, group: eventLoopGroup, role: .client, onPush: { envelope in
                    MapRouter.shared.route(envelope)
                }, onClose: {
                    MapRouter.shared.connectionClosed()
                })
            }
            connections[address] = task
            return task
        }
        do {
            let connection = try await task.value
            if connection.isOpen { return connection }
            throw AloftError(.connectionFailed, "the connection to the control plane at \(address) closed")
        } catch {
            connections.withLock { if $0[address] == task { $0[address] = nil } }
            throw error
        }
    }

    /// True on the runtime's own threads, where a blocking call would wait for itself.
    var isOnRuntimeThread: Bool {
        executor.isCurrentThread || eventLoopGroup.any().inEventLoop
    }

    /// Number of blocking calls made from async code so far (each logged the warning unless it was turned off).
    public var asyncUsageWarningCount: Int { asyncUsageWarnings.load(ordering: .relaxed) }

    /// Runs `operation` on the runtime's thread and waits for it: the blocking form of every async call.
    ///
    /// - Parameter asyncForm: how the async form of this call is spelled, for the error and the warning.
    public func runBlocking<T: Sendable>(asyncForm: String, _ operation: @escaping @Sendable () async throws -> T) throws -> T {
        if isOnRuntimeThread {
            throw AloftError(.blockingCallOnRuntimeThread, """
                a blocking Aloft call was made on one of the Aloft runtime's own threads, where waiting would deadlock; \
                use the async form `\(asyncForm)` instead
                """)
        }
        if withUnsafeCurrentTask(body: { $0 != nil }) {
            asyncUsageWarnings.add(1, ordering: .relaxed)
            if ProcessInfo.processInfo.environment[AloftEnvironment.asyncWarnings] != "0" {
                logger.warning("""
                    A blocking Aloft call is being used in an async context; it blocks this thread until it finishes. \
                    Suggested rewrite: `\(asyncForm)`. Set \(AloftEnvironment.asyncWarnings)=0 to silence this warning.
                    """)
            }
        }
        let result = BlockingResult<T>()
        Task(executorPreference: executor) {
            do { result.set(.success(try await operation())) } catch { result.set(.failure(error)) }
        }
        return try result.wait()
    }
}
