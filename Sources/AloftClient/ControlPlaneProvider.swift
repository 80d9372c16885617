import AloftCore
package import AloftWire
import Foundation

/// Where an app's control plane is. The `ALOFT_CONTROL_PLANE` environment variable (`host:port` or `unix:/path`) overrides
/// every provider: containers are started with it, and a user sets it to use a running server.
public protocol ControlPlaneProvider: Sendable {
    /// The control plane's address (`host:port` or `unix:/path`), starting it first if this provider embeds one.
    func address() async throws -> String
    /// Called when the app's entrypoints have finished: an embedded control plane stops its containers here.
    func shutdown() async
    /// The token to present (`aloft token new` makes one); `nil` falls back to `ALOFT_TOKEN`.
    var token: String? { get }
    /// How long a map or `.remote` call whose connection closed (a server restart) keeps trying to reconnect and
    /// carry on, sending again the inputs whose results had not arrived; `.zero` fails it at once.
    var reconnectWindow: Duration { get }
}

extension ControlPlaneProvider {
    public func shutdown() async {}
    public var token: String? { nil }
    public var reconnectWindow: Duration { .seconds(60) }
}

/// A control plane already running at a known address, such as `aloft server`.
public struct RemoteControlPlane: ControlPlaneProvider {
    public var hostAndPort: String
    public var token: String?
    /// - Parameter token: the client token to present; `nil` uses `ALOFT_TOKEN`.
    public init(_ hostAndPort: String, token: String? = nil) {
        self.hostAndPort = hostAndPort
        self.token = token
    }
    public func address() async throws -> String { hostAndPort }
}

extension ControlPlaneProvider where Self == RemoteControlPlane {
    /// The control plane named by `ALOFT_CONTROL_PLANE`; fails on first use when it is not set.
    public static var environment: RemoteControlPlane {
        RemoteControlPlane(ProcessInfo.processInfo.environment[AloftEnvironment.controlPlaneAddress] ?? "")
    }
}

/// A control plane in this process (`EmbeddedControlPlane`): its callers speak the wire protocol to it without a
/// socket, handing over envelopes as they are (no encoding, no system calls). Its containers, other processes, still
/// reach it at its `address()`.
package protocol InProcessControlPlane: ControlPlaneProvider {
    /// Opens a connection: `deliver` gets each frame the control plane sends (on its event loop: it must not block),
    /// `onClose` is called once when either side closes it.
    func connectInProcess(
        deliver: @escaping @Sendable (Aloft_V1_Envelope) -> Void, onClose: @escaping @Sendable () -> Void
    ) async throws -> any InProcessLink
}

/// The caller's end of an in-process connection.
package protocol InProcessLink: Sendable {
    /// Sends a frame; frames arrive in the order sent.
    func send(_ envelope: Aloft_V1_Envelope)
    func closeFromCaller()
}
