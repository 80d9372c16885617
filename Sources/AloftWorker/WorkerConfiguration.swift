package import AloftCore
public import AloftControlPlane
import AloftWire
public import Foundation

/// Settings of `aloft worker`.
public struct WorkerConfiguration: Sendable {
    /// The server's wire address, `host:port`; containers started here dial it too.
    public var serverAddress: String
    /// The server's HTTP API, where executables are fetched by hash.
    public var apiURL: String
    /// A worker token (`aloft token new --kind worker`).
    public var token: String
    /// How the server's logs name this host.
    public var name: String
    /// Containers this host runs at once.
    public var maxContainers: Int
    /// Where fetched executables are kept, by hash.
    public var cacheDirectory: String
    public var heartbeatInterval: Duration
    /// Wait between attempts to reach the server after the connection is lost.
    public var reconnectDelay: Duration
    /// How containers run here (`--isolation`): boxed where the host allows it by default.
    public var isolation = ContainerIsolation.auto
    /// What this host offers containers (`--cpus`, `--memory`, `--gpus`); default: its cores and physical memory,
    /// and the GPUs `nvidia-smi` lists.
    public var capacity = HostCapacity.thisHost()

    public init(
        serverAddress: String, apiURL: String? = nil, token: String, name: String = ProcessInfo.processInfo.hostName,
        maxContainers: Int = 2 * ProcessInfo.processInfo.activeProcessorCount,
        cacheDirectory: String = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(
            ".aloft/worker-cache"
        ).path,
        heartbeatInterval: Duration = .seconds(2), reconnectDelay: Duration = .seconds(1)
    ) {
        self.serverAddress = serverAddress
        let host = (try? WireEndpoint(serverAddress))?.host ?? ""
        self.apiURL = apiURL ?? "http://\(host.isEmpty ? "127.0.0.1" : host):\(AloftPorts.http)"
        self.token = token
        self.name = name
        self.maxContainers = maxContainers
        self.cacheDirectory = cacheDirectory
        self.heartbeatInterval = heartbeatInterval
        self.reconnectDelay = reconnectDelay
    }
}

extension WorkerConfiguration {
    /// The defaults, overridden by the environment (`ALOFT_CONTROL_PLANE`, `ALOFT_TOKEN`, `ALOFT_API_URL`),
    /// overridden by `aloft worker`'s flags: the one place a worker's settings are read. The server's address and a
    /// token are required.
    package init(settings: Settings) throws(AloftError) {
        guard let server = settings.value(AloftEnvironment.controlPlaneAddress) else {
            throw AloftError(.invalidConfiguration, "name the server with --server host:port (or ALOFT_CONTROL_PLANE)")
        }
        _ = try WireEndpoint(server)
        guard let token = settings.value(AloftEnvironment.token) else {
            throw AloftError(
                .invalidConfiguration,
                "a worker needs a worker token: --token (make one on the server with `aloft token new --kind worker`)")
        }
        self.init(serverAddress: server, apiURL: settings.value(AloftEnvironment.apiURL), token: token)
        if let isolation = try settings.parse(
            AloftEnvironment.isolation, flag: "--isolation", expected: "auto, bwrap or none",
            ContainerIsolation.init(rawValue:))
        {
            self.isolation = isolation
        }
    }
}
