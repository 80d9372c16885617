public import AloftControlPlane
import AloftCore
import AloftPostgres
import AloftSQLite
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
public import Logging
public import Prometheus
public import ServiceLifecycle

/// `aloft server`: the control plane of the embedded default, run on its own with a durable store.
///
/// A `Service`: run it in a `ServiceGroup`, which stops it gracefully on SIGTERM (containers drain and stop, the
/// store is flushed and closed). Everything it stores is in `dataDirectory`: the database (`aloft.sqlite`) and the
/// Unix socket its containers use (`aloft.sock`).
public final class AloftServer: Service {
    public let configuration: ServerConfiguration
    public let controlPlane: ControlPlane
    /// Where it keeps functions, calls and tokens.
    public let store: any ControlPlaneStore
    private let authenticator: StoreTokenAuthenticator
    /// Deployed executables, in `<data-dir>/artifacts`.
    public let artifacts: FileArtifactStore
    private let logger: Logger
    /// How this host runs containers, and why.
    private let isolation: ContainerIsolation.Choice
    /// Where the metrics recorded through swift-metrics are read for `/metrics`, if the process bootstrapped
    /// swift-metrics with a `PrometheusMetricsFactory` on it (`aloft server` does).
    private let metricsRegistry: PrometheusCollectorRegistry?

    public init(
        configuration: ServerConfiguration, logger: Logger? = nil, metricsRegistry: PrometheusCollectorRegistry? = nil
    ) throws {
        self.configuration = configuration
        self.metricsRegistry = metricsRegistry
        var logger = logger ?? Logger(label: "aloft.server")
        logger.logLevel = configuration.logLevel
        self.logger = logger
        do {
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            // One that existed is tightened too: it holds the database, the first token and the executables.
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: configuration.dataDirectory)
        } catch {
            throw AloftError(
                .invalidConfiguration,
                "cannot create the data directory \(configuration.dataDirectory): \(error.localizedDescription)")
        }
        var controlPlane = configuration.controlPlane
        controlPlane.host = configuration.host
        controlPlane.port = configuration.port
        let store = try configuration.makeStore(logger: logger)
        self.store = store
        self.authenticator = StoreTokenAuthenticator(store: store)
        controlPlane.store = store
        do {
            controlPlane.logStore = try FileLogStore(
                directory: (configuration.dataDirectory as NSString).appendingPathComponent("logs"),
                retention: configuration.logRetention)
        } catch {
            throw AloftError(.invalidConfiguration, "cannot open the log directory: \(error.localizedDescription)")
        }
        controlPlane.secretSealer = try AESGCMSecretSealer.loadingOrCreatingKey(at: configuration.secretKeyPath)
        controlPlane.authenticator = authenticator
        let artifacts = FileArtifactStore(
            directory: (configuration.dataDirectory as NSString).appendingPathComponent("artifacts"))
        self.artifacts = artifacts
        controlPlane.artifacts = artifacts
        controlPlane.runsContainersLocally = configuration.runsContainersLocally
        isolation = try configuration.isolation.choose(sandbox: configuration.sandbox)
        controlPlane.containerRuntime = isolation.runtime
        controlPlane.localCapacity = configuration.capacity
        // Containers on this host dial the Unix socket; a path too long for one (108 bytes) means TCP only.
        let socket = (configuration.dataDirectory as NSString).appendingPathComponent("aloft.sock")
        controlPlane.unixSocketPath = socket.utf8.count < 100 ? socket : nil
        self.controlPlane = ControlPlane(configuration: controlPlane, logger: logger)
    }

    public func run() async throws {
        StandardStream.ignoreBrokenPipes()
        logger.info(
            "aloft server starting",
            metadata: [
                "aloft.listen": "\(configuration.host):\(configuration.port)",
                "aloft.data_dir": "\(configuration.dataDirectory)",
                "aloft.store": "\(configuration.store.rawValue)",
            ])
        let lock = try lockDataDirectory()
        defer { close(lock) }
        logger.log(level: isolation.fellBack ? .warning : .info, "\(isolation.description)")
        if configuration.runsContainersLocally {
            logger.info("this host offers containers \(configuration.capacity)")
        }
        try await store.open()
        try await issueFirstToken()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.controlPlane.run() }
            let addresses = try await controlPlane.addresses()
            var http = ""
            if let httpPort = configuration.httpPort {
                let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
                let gate = HTTPConnectionGate(limits: configuration.httpLimits, logger: logger)
                let http1 = HTTP1Channel.Configuration(
                    additionalChannelHandlers: [gate.handler()],
                    idleTimeout: configuration.httpLimits.idleTimeout.map(TimeAmount.init))
                let api = Application(
                    router: WebHostRouter(
                        router: HTTPAPI.router(
                            controlPlane: controlPlane, authenticator: authenticator, artifacts: artifacts,
                            maxPayloadBytes: configuration.controlPlane.maxPayloadBytes,
                            webRedirectAfter: configuration.webRedirectAfter, metrics: metricsRegistry),
                        domain: configuration.webDomain, controlPlane: controlPlane),
                    server: .http1(configuration: http1),
                    configuration: .init(
                        address: .hostname(configuration.host, port: httpPort), serverName: "aloft",
                        availableConnectionsDelegate: .maximum(configuration.httpLimits.total, logger: logger)),
                    onServerRunning: { channel in
                        portContinuation.yield(channel.localAddress?.port ?? httpPort)
                        portContinuation.finish()
                    },
                    logger: logger)
                group.addTask {
                    defer { portContinuation.finish() }  // also when it cannot start: nobody waits for a port then
                    do {
                        try await api.run()
                    } catch is CancellationError {
                        // A graceful shutdown that took too long was escalated to cancellation: still a stop.
                    }
                }
                for await port in ports {
                    http = ", HTTP API on http://\(configuration.host):\(port)"
                    // Endpoint URLs as seen from this machine when the server listens on every address.
                    let host = ["0.0.0.0", "::"].contains(configuration.host) ? "127.0.0.1" : configuration.host
                    configuration.controlPlane.webAddresses.set(
                        baseURL: "http://\(host.contains(":") ? "[\(host)]" : host):\(port)",
                        domain: configuration.webDomain)
                }
                if http.isEmpty {
                    _ = try await group.next()  // the API's error, if it threw one
                    throw AloftError(
                        .invalidConfiguration, "the HTTP API could not start on \(configuration.host):\(httpPort)")
                }
            }
            // One line on standard output, for people and for scripts (the ports when they were 0).
            StandardStream.output.write(
                "aloft server listening on \(addresses.tcp)\(http) (data in \(configuration.dataDirectory))\n")
            try await group.waitForAll()
        }
        await isolation.runtime.finish(within: .seconds(5))
        logger.info("aloft server stopped")
    }
}

extension AloftServer {
    /// A server whose store has no token yet makes one client token for workspace `main` and writes it to
    /// `client-token` in the data directory (readable by its owner only), so that its first user can connect.
    private func issueFirstToken() async throws {
        guard try await store.tokens().isEmpty else { return }
        let (token, record) = try Tokens.issue(workspace: "main", kind: .client)
        let path = configuration.firstTokenPath
        // Written before it is stored (a crash in between leaves a file whose token the next start replaces), and
        // created 0600, never readable by others even for a moment.
        let file = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard file >= 0, fchmod(file, 0o600) == 0 else {
            throw AloftError(.invalidConfiguration, "cannot write the first token to \(path): errno \(errno)")
        }
        let bytes = Array((token + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
        close(file)
        guard written == bytes.count else {
            throw AloftError(.invalidConfiguration, "cannot write the first token to \(path): errno \(errno)")
        }
        try await store.apply([.putToken(record)])
        logger.notice(
            "no token existed: made one for workspace main",
            metadata: ["aloft.token_id": "\(record.id)", "aloft.path": "\(path)"])
    }
}

extension AloftServer {
    /// Holds an exclusive lock on the data directory while the server runs: two servers on one directory would
    /// take each other's socket and both resume the same inputs.
    private func lockDataDirectory() throws -> Int32 {
        let path = (configuration.dataDirectory as NSString).appendingPathComponent("lock")
        let file = open(path, O_RDWR | O_CREAT, 0o600)
        guard file >= 0 else { throw AloftError(.invalidConfiguration, "cannot open \(path): errno \(errno)") }
        guard flock(file, LOCK_EX | LOCK_NB) == 0 else {
            close(file)
            throw AloftError(
                .invalidConfiguration, "another aloft server is using the data directory \(configuration.dataDirectory)"
            )
        }
        return file
    }
}

extension ServerConfiguration {
    /// The SQLite database in the data directory.
    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("aloft.sqlite") }
    /// The key that seals secrets in the store (AES-256, 0600), made on first start. Servers that share a
    /// PostgreSQL store need the same key: copy this file.
    public var secretKeyPath: String { (dataDirectory as NSString).appendingPathComponent("secret-key") }
    /// Where a server that started without tokens wrote the first one.
    public var firstTokenPath: String { (dataDirectory as NSString).appendingPathComponent("client-token") }

    /// The store this configuration names (not opened yet).
    public func makeStore(logger: Logger) throws -> any ControlPlaneStore {
        switch store {
        case .sqlite: SQLiteStore(path: databasePath)
        case .postgres: try PostgresStore(url: postgresURL ?? "", schema: postgresSchema, logger: logger)
        case .memory: InMemoryStore()
        }
    }
}
