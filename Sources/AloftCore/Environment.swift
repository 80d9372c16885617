/// The environment variables through which the control plane tells a process it is a container, and the
/// user's switches. Documented in README ("Configuration").
package enum AloftEnvironment {
    /// The control plane's address, `host:port` or `unix:/path`. Set in containers; set it yourself to use a running
    /// control plane.
    package static let controlPlaneAddress = "ALOFT_CONTROL_PLANE"
    /// Set by the control plane when it starts a process as a container.
    package static let containerID = "ALOFT_CONTAINER_ID"
    /// Set by the control plane for a container of a class: the class to construct (and `enter`) before serving,
    /// and its parameters (base64 of their JSON).
    package static let className = "ALOFT_CLASS_NAME"
    package static let classParameters = "ALOFT_CLASS_PARAMETERS"
    /// Executable that containers run (default: the running executable); the SDK sends it with each function.
    package static let containerExecutable = "ALOFT_CONTAINER_EXECUTABLE"
    /// `0` turns off the warning logged when a blocking call is made from async code.
    package static let asyncWarnings = "ALOFT_ASYNC_WARNINGS"
    /// `0` turns off the progress line of big maps on a terminal.
    package static let progress = "ALOFT_PROGRESS"
    /// The token a client presents to a server that requires one (`aloft token new` makes one). Never logged.
    package static let token = "ALOFT_TOKEN"
    /// Set by `aloft run`: the SHA-256 of this executable, uploaded to the server, so that the functions it registers
    /// run from the server's copy (on worker hosts too) rather than from a path on this host.
    package static let artifact = "ALOFT_ARTIFACT"
    /// `1` (set by `aloft run`): the app prints what its containers print, wherever they run.
    package static let followLogs = "ALOFT_FOLLOW_LOGS"
    /// Set by a worker host in the containers it starts: its name (`aloft worker --name`).
    package static let workerName = "ALOFT_WORKER_NAME"
    /// `1`: the executable prints its app's manifest (functions and options, JSON) and exits; `aloft deploy` uses it.
    package static let printManifest = "ALOFT_PRINT_MANIFEST"
    /// Log level for Aloft's own logs (trace, debug, info, notice, warning, error, critical). Default: warning
    /// in an app, info in `aloft server` and `aloft worker`.
    package static let logLevel = "ALOFT_LOG_LEVEL"
    /// The server's HTTP/JSON API, for the CLI and worker hosts (default `http://<server host>:7481`).
    package static let apiURL = "ALOFT_API_URL"

    // `aloft server`'s settings (flags override them; see ServerConfiguration). Containers never inherit them.
    package static let serverHost = "ALOFT_SERVER_HOST"
    package static let serverPort = "ALOFT_SERVER_PORT"
    package static let httpPort = "ALOFT_HTTP_PORT"
    package static let dataDirectory = "ALOFT_DATA_DIR"
    package static let store = "ALOFT_SERVER_STORE"
    package static let postgresURL = "ALOFT_POSTGRES_URL"
    package static let postgresSchema = "ALOFT_POSTGRES_SCHEMA"
    package static let localWorker = "ALOFT_SERVER_LOCAL_WORKER"
    package static let workerLease = "ALOFT_SERVER_WORKER_LEASE"
    package static let webRedirectAfter = "ALOFT_SERVER_WEB_REDIRECT_AFTER"
    package static let webDomain = "ALOFT_SERVER_WEB_DOMAIN"
    package static let inputLimits = "ALOFT_SERVER_INPUT_LIMITS"
    package static let connectionLimits = "ALOFT_SERVER_CONNECTION_LIMITS"
    package static let httpLimits = "ALOFT_HTTP_LIMITS"
    /// How `aloft server` and `aloft worker` run containers: auto, bwrap or none.
    package static let isolation = "ALOFT_ISOLATION"
    /// Tasks (processes and threads) one boxed container of `aloft server` may have.
    package static let containerPids = "ALOFT_SERVER_CONTAINER_PIDS"
    /// The GPUs of `aloft server`'s own host, `TYPE:COUNT[,…]`.
    package static let serverGPUs = "ALOFT_SERVER_GPUS"
    /// The cores and MiB of memory `aloft server`'s own host offers containers, for placement.
    package static let serverCPUs = "ALOFT_SERVER_CPUS"
    package static let serverMemory = "ALOFT_SERVER_MEMORY"
    /// How long, and how many MiB of, container output `aloft server` keeps (`7d`, `512`).
    package static let logRetention = "ALOFT_SERVER_LOG_RETENTION"
    package static let logMaxSize = "ALOFT_SERVER_LOG_MAX_SIZE"

    /// Whether a container may inherit variable `name` from the process that starts it: not the server's settings
    /// and secrets (a database URL with its password, the data directory, the server's or a caller's token).
    package static func isInheritedByContainers(_ name: String) -> Bool {
        !(name.hasPrefix("ALOFT_SERVER_") || name.hasPrefix("ALOFT_POSTGRES_") || name == dataDirectory
            || name == httpPort || name == token || name == isolation || name == "ALOFT_TEST_POSTGRES_URL")
    }
}

/// The ports `aloft server` listens on unless told otherwise: the wire protocol's, and the HTTP/JSON API's.
package enum AloftPorts {
    package static let wire = 7480
    package static let http = 7481
}

/// Protocol constants shared by both sides.
@usableFromInline package enum AloftLimits {
    /// The wire protocol version this build speaks.
    package static let protocolVersion: UInt32 = 1
    /// Modal's inline payload limit: 2 MiB.
    @usableFromInline package static let defaultMaxPayloadBytes = 2 * 1024 * 1024
    /// Send buffer asked for on every connection (the kernel caps it at `net.core.wmem_max`): a large argument then
    /// crosses a Unix socket in a few writes instead of hundreds of 200 KiB ones (W7 in bench/README.md).
    package static let socketSendBufferBytes: Int32 = 4 * 1024 * 1024
}
