public import AloftControlPlane
import AloftCore
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
    /// The control plane's own settings (payload limit, container limits, result retention ...).
    public var controlPlane: ControlPlaneConfiguration

    public static let defaultPort = 7480
    public static let defaultHTTPPort = 7481

    public init(
        host: String = "127.0.0.1",
        port: Int = ServerConfiguration.defaultPort,
        dataDirectory: String = ServerConfiguration.defaultDataDirectory,
        store: StoreKind = .sqlite,
        logLevel: Logger.Level = .info,
        controlPlane: ControlPlaneConfiguration = .init()
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.store = store
        self.logLevel = logLevel
        self.controlPlane = controlPlane
    }

    /// `$ALOFT_DATA_DIR`, else `~/.aloft`.
    public static var defaultDataDirectory: String {
        if let directory = ProcessInfo.processInfo.environment[Environment.dataDirectory], !directory.isEmpty {
            return directory
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".aloft").path
    }

    /// The defaults, overridden by `ALOFT_SERVER_HOST`, `ALOFT_SERVER_PORT`, `ALOFT_DATA_DIR`, `ALOFT_SERVER_STORE`
    /// and `ALOFT_LOG_LEVEL`. Throws for a value that does not parse, naming the variable.
    public init(environment: [String: String]) throws {
        self.init()
        if let host = environment[Environment.host], !host.isEmpty { self.host = host }
        if let port = environment[Environment.port], !port.isEmpty {
            guard let value = Int(port), (0...65535).contains(value) else {
                throw AloftError(.invalidConfiguration, "\(Environment.port)=\(port) is not a port number (0-65535)")
            }
            self.port = value
        }
        if let port = environment[Environment.httpPort], !port.isEmpty {
            if port == "off" {
                self.httpPort = nil
            } else {
                guard let value = Int(port), (0...65535).contains(value) else {
                    throw AloftError(
                        .invalidConfiguration, "\(Environment.httpPort)=\(port) is not a port number (0-65535) or off")
                }
                self.httpPort = value
            }
        }
        if let directory = environment[Environment.dataDirectory], !directory.isEmpty { self.dataDirectory = directory }
        if let store = environment[Environment.store], !store.isEmpty {
            guard let kind = StoreKind(rawValue: store) else {
                throw AloftError(
                    .invalidConfiguration,
                    "\(Environment.store)=\(store): expected one of \(StoreKind.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            self.store = kind
        }
        if let url = environment[Environment.postgresURL], !url.isEmpty { self.postgresURL = url }
        if let schema = environment[Environment.postgresSchema], !schema.isEmpty { self.postgresSchema = schema }
        if store == .postgres && postgresURL == nil {
            throw AloftError(
                .invalidConfiguration,
                "the postgres store needs a URL: set \(Environment.postgresURL) (or --postgres-url)")
        }
        if let lease = environment[Environment.workerLease], !lease.isEmpty {
            guard let seconds = Double(lease), seconds > 0, seconds <= 3600 else {
                throw AloftError(
                    .invalidConfiguration,
                    "\(Environment.workerLease)=\(lease) (--worker-lease): expected seconds, more than 0 and at most 3600"
                )
            }
            self.controlPlane.workerLease = .milliseconds(Int64(seconds * 1000))
        }
        if let local = environment[Environment.localWorker], !local.isEmpty {
            guard let value = ["1": true, "true": true, "on": true, "0": false, "false": false, "off": false][local]
            else {
                throw AloftError(.invalidConfiguration, "\(Environment.localWorker)=\(local): expected on or off")
            }
            self.runsContainersLocally = value
        }
        if let level = environment[Environment.logLevel], !level.isEmpty {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw AloftError(
                    .invalidConfiguration,
                    "\(Environment.logLevel)=\(level): expected trace, debug, info, notice, warning, error or critical")
            }
            self.logLevel = parsed
        }
    }

    /// The environment variables the server reads.
    public enum Environment {
        public static let host = "ALOFT_SERVER_HOST"
        public static let port = "ALOFT_SERVER_PORT"
        public static let httpPort = "ALOFT_HTTP_PORT"
        public static let dataDirectory = "ALOFT_DATA_DIR"
        public static let store = "ALOFT_SERVER_STORE"
        public static let logLevel = "ALOFT_LOG_LEVEL"
        public static let postgresURL = "ALOFT_POSTGRES_URL"
        public static let postgresSchema = "ALOFT_POSTGRES_SCHEMA"
        public static let localWorker = "ALOFT_SERVER_LOCAL_WORKER"
        public static let workerLease = "ALOFT_SERVER_WORKER_LEASE"
    }
}
