@_exported import AloftClient
@_exported import AloftCore
import AloftControlPlane
import Logging
import ServiceLifecycle

extension App {
    /// An app on the embedded control plane: started in this process on first use, on a loopback port, with
    /// containers started as child processes. Set `ALOFT_CONTROL_PLANE=host:port` to use a running one instead.
    public convenience init(_ name: String, configuration: AppConfiguration = .init()) {
        self.init(name, controlPlane: EmbeddedControlPlane.shared, configuration: configuration)
    }
}

/// The control plane run inside the caller's process: Aloft's zero-setup default.
public final class EmbeddedControlPlane: ControlPlaneProvider {
    public static let shared = EmbeddedControlPlane()

    private let controlPlane: ControlPlane
    private let running: Task<Void, any Error>
    private let serviceGroup: ServiceGroup

    public init(configuration: ControlPlaneConfiguration = .init()) {
        var logger = Logger(label: "aloft.control-plane")
        logger.logLevel = .warning
        if let level = ProcessInfo.processInfo.environment[AloftEnvironment.logLevel].flatMap(Logger.Level.init(rawValue:)) {
            logger.logLevel = level
        }
        let controlPlane = ControlPlane(configuration: configuration, logger: logger)
        self.controlPlane = controlPlane
        let group = ServiceGroup(configuration: .init(services: [controlPlane], logger: logger))
        serviceGroup = group
        running = Task { try await group.run() }
    }

    public func address() async throws -> String {
        try await controlPlane.listeningAddress()
    }

    /// Stops every container and the listener; waits until they are gone.
    public func shutdown() async {
        await serviceGroup.triggerGracefulShutdown()
        _ = await running.result
    }
}

import Foundation
