import AloftCore
import Foundation

/// Where an app's control plane is. The `ALOFT_CONTROL_PLANE` environment variable (`host:port` or `unix:/path`) overrides
/// every provider: containers are started with it, and a user sets it to use a running server.
public protocol ControlPlaneProvider: Sendable {
    /// The control plane's address (`host:port` or `unix:/path`), starting it first if this provider embeds one.
    func address() async throws -> String
    /// Called when the app's entrypoints have finished: an embedded control plane stops its containers here.
    func shutdown() async
}

extension ControlPlaneProvider {
    public func shutdown() async {}
}

/// A control plane already running at a known address.
public struct RemoteControlPlane: ControlPlaneProvider {
    public var hostAndPort: String
    public init(_ hostAndPort: String) { self.hostAndPort = hostAndPort }
    public func address() async throws -> String { hostAndPort }
}

extension ControlPlaneProvider where Self == RemoteControlPlane {
    /// The control plane named by `ALOFT_CONTROL_PLANE`; fails on first use when it is not set.
    public static var environment: RemoteControlPlane {
        RemoteControlPlane(ProcessInfo.processInfo.environment[AloftEnvironment.controlPlaneAddress] ?? "")
    }
}
