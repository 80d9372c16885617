import AloftCore
import AloftServer
import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
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
            Server.self, Worker.self, Deploy.self, Serve.self, Run.self, AppCommand.self, Call.self, CallResult.self,
            Token.self, NewCommand.self,
            SecretCommand.self, DictCommand.self, QueueCommand.self,
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
        help:
            "How containers on this host run: auto (boxed with bubblewrap and cgroups where this host allows it, else plain processes), bwrap (always boxed; refuse to start otherwise) or none [$ALOFT_ISOLATION, default auto]."
    )
    var isolation: String?

    @Option(
        name: .customLong("container-pids"),
        help:
            "Tasks (processes and threads) one boxed container may have: a fork bomb stops there [$ALOFT_SERVER_CONTAINER_PIDS, default 4096]."
    )
    var containerPids: Int?

    @Option(
        help:
            "Cores this host offers its containers, for placement: a container starts only where its function's cpu request fits beside the others' [$ALOFT_SERVER_CPUS, default: its cores]."
    )
    var cpus: Double?

    @Option(
        help:
            "MiB of memory this host offers its containers, for placement [$ALOFT_SERVER_MEMORY, default: its physical memory]."
    )
    var memory: Int?

    @Option(
        help:
            "GPUs this host offers its containers, TYPE:COUNT[,TYPE:COUNT…] such as H100:2 [$ALOFT_SERVER_GPUS, default: those nvidia-smi lists, if any]."
    )
    var gpus: String?

    @Option(
        name: .customLong("worker-lease"),
        help: "Seconds without a heartbeat after which a worker host is lost [$ALOFT_SERVER_WORKER_LEASE, default 10].")
    var workerLease: Double?

    @Option(
        name: .customLong("web-redirect-after"),
        help:
            "Seconds a web endpoint's request waits before it is answered 303 to its result URL [$ALOFT_SERVER_WEB_REDIRECT_AFTER, default 150]."
    )
    var webRedirectAfter: Double?

    @Option(
        name: .customLong("web-domain"),
        help:
            "Also serve web endpoints at <workspace>--<app>-<label>.DOMAIN (Host header routing), given as [http[s]://]domain[:port]; their URLs take that form [$ALOFT_SERVER_WEB_DOMAIN]."
    )
    var webDomain: String?

    @Option(
        name: .customLong("log-retention"),
        help: "How long container output is kept: 90m, 12h, 7d [$ALOFT_SERVER_LOG_RETENTION, default 7d].")
    var logRetention: String?

    @Option(
        name: .customLong("log-max-size"),
        help: "MiB of container output kept, the oldest dropped first [$ALOFT_SERVER_LOG_MAX_SIZE, default 512].")
    var logMaxSize: Int?

    @Option(
        name: .customLong("input-limits"),
        help:
            "Bounds on unanswered inputs in memory, any of map=N,map-mib=N,connection-mib=N,workspace=N,workspace-mib=N [$ALOFT_SERVER_INPUT_LIMITS, default map=10000,map-mib=256,connection-mib=512,workspace=1000000,workspace-mib=2048]."
    )
    var inputLimits: String?

    @Option(
        name: .customLong("connection-limits"),
        help:
            "Bounds on wire connections, any of total=N,unwelcomed-per-peer=N,hello-timeout=SECONDS,idle-timeout=SECONDS|off [$ALOFT_SERVER_CONNECTION_LIMITS, default total=half the descriptor limit (at most 4096),unwelcomed-per-peer=64,hello-timeout=10,idle-timeout=300]."
    )
    var connectionLimits: String?

    @Option(
        name: .customLong("http-limits"),
        help:
            "Bounds on HTTP API connections, any of total=N,per-peer=N,idle-timeout=SECONDS|off [$ALOFT_HTTP_LIMITS, default total=a quarter of the descriptor limit,per-peer=256,idle-timeout=30]."
    )
    var httpLimits: String?

    @Option(
        name: .customLong("otlp-endpoint"),
        help:
            "Export a span per call, attempt and cold start over OTLP/HTTP to this collector, such as http://localhost:4318 [$OTEL_EXPORTER_OTLP_ENDPOINT; default: no spans]."
    )
    var otlpEndpoint: String?

    func run() async throws {
        let flags: [String: String?] = [
            AloftEnvironment.inputLimits: inputLimits, AloftEnvironment.connectionLimits: connectionLimits,
            AloftEnvironment.httpLimits: httpLimits,
            AloftEnvironment.workerLease: workerLease.map { String($0) }, AloftEnvironment.localWorker: localWorker,
            AloftEnvironment.webRedirectAfter: webRedirectAfter.map { String($0) },
            AloftEnvironment.webDomain: webDomain, AloftEnvironment.isolation: isolation,
            AloftEnvironment.containerPids: containerPids.map { String($0) }, AloftEnvironment.serverGPUs: gpus,
            AloftEnvironment.serverCPUs: cpus.map { String($0) },
            AloftEnvironment.serverMemory: memory.map { String($0) },
            AloftEnvironment.logRetention: logRetention, AloftEnvironment.logMaxSize: logMaxSize.map { String($0) },
            AloftEnvironment.serverHost: host, AloftEnvironment.serverPort: port.map { String($0) },
            AloftEnvironment.httpPort: httpPort, AloftEnvironment.logLevel: logLevel,
        ]
        let settings = Settings(
            flags: flags.merging(storeOptions.flags) { $1 }, environment: ProcessInfo.processInfo.environment)
        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration(settings: settings)
        } catch {
            throw ValidationError("\(error)")
        }
        var logger = Logger(label: "aloft.server")
        logger.logLevel = configuration.logLevel
        // Metrics go to a Prometheus registry that the server serves at /metrics.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory.aloft(registry: registry))
        // Bootstrapped before the server is made: its control plane takes the process's tracer.
        let traceExport = try TraceExport.bootstrap(
            endpoint: otlpEndpoint, environment: ProcessInfo.processInfo.environment, logger: logger)
        let server = try AloftServer(configuration: configuration, logger: logger, metricsRegistry: registry)
        // Services shut down last first: the server drains, then the exporter sends what is left.
        var groupConfiguration = ServiceGroupConfiguration(
            services: (traceExport.map { [$0] } ?? []) + [server], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Graceful shutdown drains (containers get their stop grace), then cancels: a stop never hangs.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(20)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
    }
}
