import AloftServer
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

@main
struct Aloft: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aloft",
        abstract: "Serverless functions for Swift, self-hosted.",
        discussion: """
            An app run with `swift run` needs none of this: it starts an embedded control plane. Run a server when \
            calls must outlive the caller's process: `aloft deploy` an app to it, call it by name from anywhere, \
            and add machines with `aloft worker`. A program reaches a server with ALOFT_CONTROL_PLANE=host:port \
            and ALOFT_TOKEN.
            """,
        subcommands: [
            Server.self, Worker.self, Deploy.self, Run.self, AppCommand.self, Call.self, CallResult.self, Token.self,
        ]
    )
}

struct Server: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the control plane as a standalone server.",
        discussion: """
            Spawned calls and their results are kept in the data directory and survive a restart (kill -9 \
            included): unfinished inputs run again when the server is back. SIGTERM or Ctrl-C stops it gracefully. \
            Each flag falls back to its environment variable, then to its default.
            """
    )

    @Option(help: "Address to listen on [$ALOFT_SERVER_HOST, default 127.0.0.1].")
    var host: String?

    @Option(
        help: "Port to listen on; 0 picks a free one [$ALOFT_SERVER_PORT, default \(ServerConfiguration.defaultPort)].")
    var port: Int?

    @Option(
        name: .customLong("http-port"),
        help: "Port of the HTTP/JSON API, or off [$ALOFT_HTTP_PORT, default \(ServerConfiguration.defaultHTTPPort)].")
    var httpPort: String?

    @OptionGroup var storeOptions: StoreOptions

    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error or critical [$ALOFT_LOG_LEVEL, default info].")
    var logLevel: String?

    @Option(
        name: .customLong("local-worker"),
        help:
            "on: this host runs containers too; off: deployed functions run on worker hosts only [$ALOFT_SERVER_LOCAL_WORKER, default on]."
    )
    var localWorker: String?

    @Option(
        name: .customLong("worker-lease"),
        help: "Seconds without a heartbeat after which a worker host is lost [$ALOFT_SERVER_WORKER_LEASE, default 10].")
    var workerLease: Double?

    func run() async throws {
        var environment = ProcessInfo.processInfo.environment
        if let workerLease { environment[ServerConfiguration.Environment.workerLease] = String(workerLease) }
        if let localWorker { environment[ServerConfiguration.Environment.localWorker] = localWorker }
        if let host { environment[ServerConfiguration.Environment.host] = host }
        if let port { environment[ServerConfiguration.Environment.port] = String(port) }
        if let httpPort { environment[ServerConfiguration.Environment.httpPort] = httpPort }
        storeOptions.apply(to: &environment)
        if let logLevel { environment[ServerConfiguration.Environment.logLevel] = logLevel }
        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration(environment: environment)
        } catch {
            throw ValidationError("\(error)")
        }
        var logger = Logger(label: "aloft.server")
        logger.logLevel = configuration.logLevel
        let server = try AloftServer(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
