public import AloftControlPlane
package import AloftCore
import Foundation
public import Logging

/// Settings of `aloft server`. Each has a default; the environment (`ALOFT_SERVER_*`, `ALOFT_DATA_DIR`) overrides
/// the defaults, and command-line flags override the environment.
public struct ServerConfiguration: Sendable {
    public enum StoreKind: String, Sendable, CaseIterable {
        /// One SQLite file in the data directory (the default).
        case sqlite
        /// PostgreSQL at `postgresURL` (one server per schema: servers do not coordinate yet).
        case postgres
        /// Nothing outlives the process (tests, trying things out).
        case memory
    }

    /// Address to listen on for callers, containers and workers.
    public var host: String
    public var port: Int
    /// Port of the HTTP/JSON API (on `host`); `nil` turns it off.
    public var httpPort: Int? = ServerConfiguration.defaultHTTPPort
    /// Where the database and the server's Unix socket live.
    public var dataDirectory: String
    public var store: StoreKind
    /// `postgres://user:password@host:port/database`, for the `postgres` store. Never logged with its password.
    public var postgresURL: String?
    /// The PostgreSQL schema holding the tables (servers sharing a database and a schema share their state).
    public var postgresSchema: String = "aloft"
    public var logLevel: Logger.Level
    /// Whether the server's own host runs containers (its embedded worker); off, deployed functions run only on
    /// worker hosts (`aloft worker`).
    public var runsContainersLocally = true
    /// The control plane's own settings (payload limit, container limits, result retention ...). A server closes
    /// idle welcomed client connections after `ServerConfiguration.defaultIdleTimeout`.
    public var controlPlane: ControlPlaneConfiguration
    /// Bounds on the HTTP API's connections.
    public var httpLimits = HTTPConnectionLimits()
    /// How long a web endpoint's request waits for its result before it is answered `303 See Other` to a result URL
    /// (Modal's 150 s).
    public var webRedirectAfter = Duration.seconds(150)
    /// With a domain, web endpoints are also served (and their URLs given) in Modal's host form.
    public var webDomain: WebDomain?
    /// How containers on this host run: boxed where the host allows it (`auto`, the default), always boxed
    /// (`bwrap`: the server refuses to start where it cannot), or as plain processes (`none`).
    public var isolation = ContainerIsolation.auto
    /// How boxed containers are made (their pids limit, their `/tmp`'s default size, their uids).
    public var sandbox = SandboxContainerRuntime.Configuration()
    /// What this host offers its containers, for placement: its cores and memory, and the GPUs `--gpus` names
    /// (else those `nvidia-smi` lists).
    public var capacity = HostCapacity.thisHost()
    /// How long and how much container output is kept (in `dataDirectory`/logs).
    public var logRetention = LogRetention()

    public static let defaultPort = AloftPorts.wire
    public static let defaultHTTPPort = AloftPorts.http
    /// How long a server keeps a welcomed client connection that sends nothing and waits for nothing.
    public static let defaultIdleTimeout = Duration.seconds(300)

    public init(
        host: String = "127.0.0.1",
        port: Int = ServerConfiguration.defaultPort,
        dataDirectory: String = ServerConfiguration.defaultDataDirectory,
        store: StoreKind = .sqlite,
        logLevel: Logger.Level = .info,
        controlPlane: ControlPlaneConfiguration = ServerConfiguration.defaultControlPlane
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.store = store
        self.logLevel = logLevel
        self.controlPlane = controlPlane
    }

    /// The control plane's defaults, with the server's idle timeout.
    public static var defaultControlPlane: ControlPlaneConfiguration {
        var configuration = ControlPlaneConfiguration()
        configuration.connectionLimits.idleTimeout = defaultIdleTimeout
        return configuration
    }

    /// `$ALOFT_DATA_DIR`, else `~/.aloft`.
    public static var defaultDataDirectory: String {
        if let directory = ProcessInfo.processInfo.environment[AloftEnvironment.dataDirectory], !directory.isEmpty {
            return directory
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".aloft").path
    }

    /// The defaults, overridden by the environment (`ALOFT_SERVER_HOST`, `ALOFT_SERVER_PORT`, `ALOFT_HTTP_PORT`,
    /// `ALOFT_DATA_DIR`, `ALOFT_SERVER_STORE`, `ALOFT_POSTGRES_URL`, `ALOFT_POSTGRES_SCHEMA`,
    /// `ALOFT_SERVER_WORKER_LEASE`, `ALOFT_SERVER_LOCAL_WORKER`, `ALOFT_SERVER_INPUT_LIMITS`,
    /// `ALOFT_SERVER_CONNECTION_LIMITS`, `ALOFT_HTTP_LIMITS`, `ALOFT_SERVER_WEB_REDIRECT_AFTER`, `ALOFT_SERVER_LOG_RETENTION`,
    /// `ALOFT_SERVER_LOG_MAX_SIZE`, `ALOFT_LOG_LEVEL`). Throws for a value that does not
    /// parse, naming the variable.
    public init(environment: [String: String]) throws {
        try self.init(settings: Settings(environment: environment))
    }

    /// The defaults, overridden by the environment, overridden by `aloft server`'s flags: the one place the
    /// server's settings are read.
    package init(settings: Settings) throws(AloftError) {
        self.init()
        typealias Variable = AloftEnvironment
        if let host = settings.value(Variable.serverHost) { self.host = host }
        if let port = try settings.port(Variable.serverPort, flag: "--port") { self.port = port }
        if settings.value(Variable.httpPort) == "off" {
            httpPort = nil
        } else if let port = try settings.port(Variable.httpPort, flag: "--http-port") {
            httpPort = port
        }
        if let directory = settings.value(Variable.dataDirectory) { dataDirectory = directory }
        let kinds = StoreKind.allCases.map(\.rawValue).joined(separator: ", ")
        if let kind = try settings.parse(Variable.store, flag: "--store", expected: "one of \(kinds)", StoreKind.init) {
            store = kind
        }
        postgresURL = settings.value(Variable.postgresURL)
        if let schema = settings.value(Variable.postgresSchema) { postgresSchema = schema }
        if store == .postgres && postgresURL == nil {
            throw AloftError(
                .invalidConfiguration, "the postgres store needs a URL: set \(Variable.postgresURL) (or --postgres-url)"
            )
        }
        let lease = try settings.parse(
            Variable.workerLease, flag: "--worker-lease", expected: "a number of seconds, more than 0 and at most 3600"
        ) { Double($0).flatMap { $0 > 0 && $0 <= 3600 ? $0 : nil } }
        if let lease { controlPlane.workerLease = .milliseconds(Int64(lease * 1000)) }
        try readLimits(settings)
        let redirect = try settings.parse(
            Variable.webRedirectAfter, flag: "--web-redirect-after",
            expected: "a number of seconds, more than 0 and at most 3600"
        ) { Double($0).flatMap { $0 > 0 && $0 <= 3600 ? $0 : nil } }
        if let redirect { webRedirectAfter = .milliseconds(Int64(redirect * 1000)) }
        if let domain = settings.value(Variable.webDomain) { webDomain = try WebDomain(parsing: domain) }
        if let isolation = try settings.parse(
            Variable.isolation, flag: "--isolation", expected: "auto, bwrap or none", ContainerIsolation.init(rawValue:)
        ) {
            self.isolation = isolation
        }
        if let pids = try settings.parse(
            Variable.containerPids, flag: "--container-pids", expected: "a number of tasks, at least 16",
            { Int($0).flatMap { $0 >= 16 ? $0 : nil } })
        {
            sandbox.pidsLimit = pids
        }
        if let cpus = try settings.parse(
            Variable.serverCPUs, flag: "--cpus", expected: "a number of cores, more than 0",
            { Double($0).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } })
        {
            capacity.cpus = cpus
        }
        if let memory = try settings.parse(
            Variable.serverMemory, flag: "--memory", expected: "a number of MiB, more than 0",
            { Int($0).flatMap { $0 > 0 ? $0 : nil } })
        {
            capacity.memoryMiB = memory
        }
        capacity.gpus = try HostCapacity.gpus(setting: settings.value(Variable.serverGPUs))
        if let age = try settings.parse(
            Variable.logRetention, flag: "--log-retention", expected: "an age such as 90m, 12h or 7d, more than 0",
            { Duration(humanReadable: $0).flatMap { $0 > .zero ? $0 : nil } })
        {
            logRetention.maxAge = age
        }
        if let size = try settings.parse(
            Variable.logMaxSize, flag: "--log-max-size", expected: "a number of MiB, at least 1",
            { Int($0).flatMap { $0 >= 1 && $0 < 1 << 30 ? $0 : nil } })
        {
            logRetention.maxBytes = size << 20
        }
        if let local = try settings.toggle(Variable.localWorker, flag: "--local-worker") {
            runsContainersLocally = local
        }
        if let level = try settings.parse(
            Variable.logLevel, flag: "--log-level",
            expected: "one of trace, debug, info, notice, warning, error, critical", Logger.Level.init(rawValue:))
        {
            logLevel = level
        }
    }
}
