import AloftControlPlane
import AloftCore
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
        help:
            "The server's HTTP API, for fetching executables [$ALOFT_API_URL, default http://SERVER-HOST:\(AloftPorts.http)]."
    )
    var apiURL: String?

    @Option(help: "How the server names this host (default: the host name).")
    var name: String?

    @Option(name: .customLong("max-containers"), help: "Containers this host runs at once (default: twice its cores).")
    var maxContainers: Int?

    @Option(
        help:
            "How containers run: auto (boxed with bubblewrap and cgroups where this host allows it, else plain processes), bwrap (always boxed; refuse to start otherwise) or none [$ALOFT_ISOLATION, default auto]."
    )
    var isolation: String?

    @Option(help: "Cores this host offers containers, for placement (default: its cores).")
    var cpus: Double?

    @Option(help: "MiB of memory this host offers containers, for placement (default: its physical memory).")
    var memory: Int?

    @Option(
        help:
            "GPUs this host offers, TYPE:COUNT[,TYPE:COUNT…] such as H100:2 (default: those nvidia-smi lists, if any).")
    var gpus: String?

    @Option(name: .customLong("cache-dir"), help: "Where fetched executables are kept (default ~/.aloft/worker-cache).")
    var cacheDirectory: String?

    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error or critical [$ALOFT_LOG_LEVEL, default info].")
    var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        if let maxContainers, maxContainers < 1 { throw ValidationError("--max-containers must be at least 1") }
        let settings = Settings(
            flags: [
                AloftEnvironment.controlPlaneAddress: server, AloftEnvironment.token: token,
                AloftEnvironment.apiURL: apiURL, AloftEnvironment.logLevel: logLevel,
                AloftEnvironment.isolation: isolation,
            ], environment: environment)
        var configuration: WorkerConfiguration
        let level: Logger.Level
        do {
            configuration = try WorkerConfiguration(settings: settings)
            level =
                try settings.parse(
                    AloftEnvironment.logLevel, flag: "--log-level",
                    expected: "one of trace, debug, info, notice, warning, error, critical",
                    Logger.Level.init(rawValue:))
                ?? .info
        } catch {
            throw ValidationError(error.message)
        }
        if let name { configuration.name = name }
        if let maxContainers { configuration.maxContainers = maxContainers }
        if let cacheDirectory { configuration.cacheDirectory = cacheDirectory }
        if let cpus {
            guard cpus > 0 else { throw ValidationError("--cpus must be more than 0") }
            configuration.capacity.cpus = cpus
        }
        if let memory {
            guard memory > 0 else { throw ValidationError("--memory must be more than 0 MiB") }
            configuration.capacity.memoryMiB = memory
        }
        do throws(AloftError) {
            configuration.capacity.gpus = try HostCapacity.gpus(setting: gpus)
        } catch {
            throw ValidationError(error.message)
        }
        var logger = Logger(label: "aloft.worker")
        logger.logLevel = level
        let worker: AloftWorker
        do {
            worker = try AloftWorker(configuration: configuration, logger: logger)
        } catch {
            throw ValidationError(error.message)
        }
        let group = ServiceGroup(
            configuration: .init(services: [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
