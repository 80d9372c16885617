import AloftWorker
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `aloft worker`: run a server's containers on this host.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run containers for an aloft server on this host.",
        discussion: """
            The worker registers its capacity with the server, heartbeats, and starts the containers of deployed \
            apps the server assigns to it, fetching each executable once by its SHA-256 (cached in --cache-dir). \
            Container output is printed here, prefixed with the function and container, and sent to the server for \
            `aloft run`. If the connection is lost its containers stop (the server runs their inputs again \
            elsewhere) and it reconnects. Make its token on the server with `aloft token new --kind worker \
            --workspace W`: it runs the containers of workspace W only.
            """
    )

    @Option(help: "The server's address, host:port [$ALOFT_CONTROL_PLANE].")
    var server: String?

    @Option(help: "A worker token [$ALOFT_TOKEN].")
    var token: String?

    @Option(
        name: .customLong("api"),
        help: "The server's HTTP API, for fetching executables [$ALOFT_API_URL, default http://SERVER-HOST:7481].")
    var apiURL: String?

    @Option(help: "How the server names this host (default: the host name).")
    var name: String?

    @Option(name: .customLong("max-containers"), help: "Containers this host runs at once (default: twice its cores).")
    var maxContainers: Int?

    @Option(name: .customLong("cache-dir"), help: "Where fetched executables are kept (default ~/.aloft/worker-cache).")
    var cacheDirectory: String?

    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error or critical [$ALOFT_LOG_LEVEL, default info].")
    var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let server = server ?? environment["ALOFT_CONTROL_PLANE"], !server.isEmpty else {
            throw ValidationError("name the server with --server host:port (or ALOFT_CONTROL_PLANE)")
        }
        guard let token = token ?? environment["ALOFT_TOKEN"], !token.isEmpty else {
            throw ValidationError(
                "a worker needs a worker token: --token (make one on the server with `aloft token new --kind worker`)")
        }
        if let maxContainers, maxContainers < 1 { throw ValidationError("--max-containers must be at least 1") }
        var configuration = WorkerConfiguration(
            serverAddress: server, apiURL: apiURL ?? environment["ALOFT_API_URL"], token: token)
        if let name { configuration.name = name }
        if let maxContainers { configuration.maxContainers = maxContainers }
        if let cacheDirectory { configuration.cacheDirectory = cacheDirectory }
        var logger = Logger(label: "aloft.worker")
        let level = logLevel ?? environment["ALOFT_LOG_LEVEL"] ?? "info"
        guard let parsed = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level '\(level)'") }
        logger.logLevel = parsed
        let worker = AloftWorker(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
