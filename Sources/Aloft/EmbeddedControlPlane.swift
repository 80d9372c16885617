public import AloftClient
public import AloftControlPlane
import AloftCore
package import AloftWire
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The control plane run inside the caller's process: Aloft's zero-setup default.
///
/// Nothing starts until the first call asks for its address, so a process that never calls a function (or
/// that talks to another control plane through `ALOFT_CONTROL_PLANE`, as containers do) never starts one.
public final class EmbeddedControlPlane: ControlPlaneProvider {
    public static let shared = EmbeddedControlPlane()
    /// It lives and dies with this process: a closed connection to it is not waited for.
    public var reconnectWindow: Duration { .zero }

    private let configuration: ControlPlaneConfiguration
    private let started = Mutex<Started?>(nil)

    private struct Started {
        let controlPlane: ControlPlane
        let serviceGroup: ServiceGroup
        let running: Task<Void, any Error>
    }

    /// - Parameter configuration: `import AloftControlPlane` to build one. A `unixSocketPath` of `nil` gets a fresh
    ///   path in the temporary directory; an empty one means TCP only.
    public init(configuration: ControlPlaneConfiguration = .init()) {
        var configuration = configuration
        if configuration.eventLoopGroup == nil { configuration.eventLoopGroup = AloftRuntime.shared.eventLoopGroup }
        if configuration.unixSocketPath == "" {
            configuration.unixSocketPath = nil
        } else if configuration.unixSocketPath == nil {
            let name = "aloft-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: .min ... .max)).sock"
            let path = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(name).path
            configuration.unixSocketPath = path
            SocketFiles.removeAtExit(path)
        }
        self.configuration = configuration
    }

    public func address() async throws -> String {
        let controlPlane = started.withLock { started in
            if let started { return started.controlPlane }
            var logger = Logger(label: "aloft.control-plane")
            logger.logLevel =
                ProcessInfo.processInfo.environment[AloftEnvironment.logLevel].flatMap(Logger.Level.init(rawValue:))
                ?? .warning
            let controlPlane = ControlPlane(configuration: configuration, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [controlPlane], logger: logger))
            started = Started(controlPlane: controlPlane, serviceGroup: group, running: Task { try await group.run() })
            return controlPlane
        }
        return try await controlPlane.listeningAddress()
    }

    /// Stops every container and the listener, and waits until they are gone. A later call starts it again.
    public func shutdown() async {
        guard
            let running = started.withLock({ started in
                defer { started = nil }
                return started
            })
        else { return }
        await running.serviceGroup.triggerGracefulShutdown()
        _ = await running.running.result
    }
}

// Callers in this process reach it without a socket; its containers, other processes, at its address.
extension EmbeddedControlPlane: InProcessControlPlane {
    package func connectInProcess(
        deliver: @escaping @Sendable (Aloft_V1_Envelope) -> Void, onClose: @escaping @Sendable () -> Void
    ) async throws -> any InProcessLink {
        guard let controlPlane = started.withLock({ $0?.controlPlane }) else {
            throw AloftError(.connectionFailed, "the embedded control plane is not running")
        }
        _ = try await controlPlane.listeningAddress()  // started again after a shutdown: wait until it runs
        return Link(connection: try await controlPlane.connectInProcess(deliver: deliver, onClose: onClose))
    }

    /// Holds the connection weakly: while it is open the scheduler's table keeps it; once closed, a caller's cached
    /// connection must not keep the stopped control plane in memory.
    private struct Link: InProcessLink {
        weak var connection: InProcessConnection?
        func send(_ envelope: Aloft_V1_Envelope) { connection?.send(envelope) }
        func closeFromCaller() { connection?.closeFromCaller() }
    }
}

/// Socket files of embedded control planes, removed when the process exits even if nobody called `shutdown()`
/// (a test process, a caller that calls `exit`).
private enum SocketFiles {
    private static let paths = Mutex<[String]>([])
    private static let registered = Mutex(false)

    static func removeAtExit(_ path: String) {
        paths.withLock { $0.append(path) }
        let first = registered.withLock { registered in
            defer { registered = true }
            return !registered
        }
        if first { atexit { SocketFiles.removeAll() } }
    }

    private static func removeAll() {
        for path in paths.withLock({ $0 }) { unlink(path) }
    }
}
