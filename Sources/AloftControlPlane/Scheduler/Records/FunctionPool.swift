import AloftCore
import AloftWire
import Foundation
import NIOCore

// The scheduler's records live on the control plane's event loop and are touched nowhere else; they are marked
// Sendable only so that timers scheduled on that same loop may capture them.

/// The containers and backlog of one function of one app (or of one class and parameter set, or one variant).
final class FunctionPool: @unchecked Sendable {
    /// Whether the pool takes calls.
    enum State {
        case active
        /// Its app stopped it (or a deployment dropped it): it takes no calls and runs no containers until the
        /// app is deployed again.
        case stopped(reason: String)
    }

    let id: UInt64
    /// The workspace that registered it (empty without an authenticator): only that workspace may call it.
    let workspace: String
    let appName: String
    let name: String
    /// What its containers run, as the last definition of the function said.
    var definition: Definition {
        didSet { sizes = Sizes(definition.options, defaultMaxContainers: defaultMaxContainers) }
    }
    /// What the options say about sizes, worked out once per definition (the call path reads them per event).
    private var sizes: Sizes
    var state = State.active
    /// Why no host can take a container of it (its requests exceed every host's capacity), while that is so.
    var unplaceable: String?
    /// Defined by a deployment (`aloft deploy`, a rollback): a run of the app against the server uses it as it is.
    var deployed: Bool
    let defaultMaxContainers: Int
    /// For the pool of a class and parameter set: what its containers construct.
    let className: String
    let classParameters: Data
    /// Input ids waiting for a container slot, oldest first. Cancelled inputs are skipped when reached.
    var pending = CircularBuffer<UInt64>()
    /// Cancelled inputs still in `pending` (removed before the backlog is counted).
    var cancelledInBacklog = 0
    var containers: [String: ContainerRecord] = [:]
    /// Containers that exited before connecting, in a row, and why the last one did.
    var consecutiveStartFailures = 0
    var lastStartFailure = ""
    /// Containers that crashed while running inputs since one last answered one; while it is not 0, new
    /// containers start no earlier than `restartNotBefore` (`Autoscaler.crashBackoff`).
    var consecutiveCrashes = 0
    var restartNotBefore: NIODeadline?
    /// Schedules the pool again once a crash backoff ends (one timer at a time).
    var restartTimer: Scheduled<Void>?
    /// Its counters and timers, made on first use (Metrics/).
    lazy var metrics = PoolMetrics(workspace: workspace, app: appName, function: name)
    /// Its last answered inputs, for the dashboard's rates and percentiles (Dashboard/).
    var window = PoolWindow()

    /// The part of a registration that a redefinition may change.
    struct Definition: Equatable {
        var executable: String
        var arguments: [String]
        var options: FunctionOptions
        /// For a deployed function: the SHA-256 of its executable in the artifact store (worker hosts fetch it by
        /// that).
        var artifact: String
        /// Set for a web endpoint (`app.webEndpoint`): served by `aloft server` over HTTP.
        var webEndpoint: Aloft_V1_WebEndpoint?

        init(_ register: Aloft_V1_FunctionRegister) {
            webEndpoint = register.hasWebEndpoint ? register.webEndpoint : nil
            executable = register.executable
            arguments = register.arguments
            options = FunctionOptions(wire: register.options)
            artifact = register.artifact
        }

        /// Whether containers started from `self` can serve `other` (the artifact follows the executable).
        func runsLike(_ other: Definition) -> Bool {
            options == other.options && executable == other.executable
        }
    }

    init(id: UInt64, workspace: String, register: Aloft_V1_FunctionRegister, defaultMaxContainers: Int) {
        self.id = id
        self.workspace = workspace
        self.appName = register.appName
        self.name = register.poolName.isEmpty ? register.functionName : register.poolName
        self.className = register.className
        self.classParameters = register.classParameters
        self.definition = Definition(register)
        self.deployed = register.deployed
        self.defaultMaxContainers = defaultMaxContainers
        self.sizes = Sizes(definition.options, defaultMaxContainers: defaultMaxContainers)
    }

    private struct Sizes {
        let bodiesPerContainer: Int
        let slotsPerContainer: Int
        let scaling: Autoscaler.Knobs

        init(_ options: FunctionOptions, defaultMaxContainers: Int) {
            let bodies = max(1, options.maxInputs)
            let batchSize = max(1, options.batching?.maxBatchSize ?? 1)
            bodiesPerContainer = bodies
            slotsPerContainer = bodies * batchSize
            scaling = Autoscaler.Knobs(
                targetPerContainer: min(options.targetInputs ?? bodies, bodies) * batchSize,
                minContainers: options.minContainers,
                maxContainers: options.maxContainers ?? defaultMaxContainers,
                bufferContainers: options.bufferContainers
            )
        }
    }

    var options: FunctionOptions { definition.options }
    var isStopped: Bool { if case .stopped = state { true } else { false } }

    /// Bodies a container runs at once (`maxInputs`).
    var bodiesPerContainer: Int { sizes.bodiesPerContainer }
    /// Inputs a container takes at once: a batched function's container gets a full batch for each body.
    var slotsPerContainer: Int { sizes.slotsPerContainer }
    /// The autoscaling knobs of this pool, for `Autoscaler`.
    var scaling: Autoscaler.Knobs { sizes.scaling }
    var maxContainers: Int { scaling.maxContainers }
    var scaledownWindow: TimeAmount { TimeAmount(options.scaledownWindow) }
    var timeout: TimeAmount { TimeAmount(options.timeout) }
    var startupTimeout: TimeAmount { TimeAmount(options.startupTimeout ?? options.timeout) }

    /// Delay before retry number `retry` (1-based): Modal's `initial_delay * coefficient^(retry-1)`, capped at
    /// `maxDelay`.
    func retryDelay(_ retry: Int) -> TimeAmount {
        let retries = options.retries
        let initial = Double(retries.initialDelay.wireMilliseconds)
        let delay = initial * pow(max(1, retries.backoffCoefficient), Double(retry - 1))
        let capped = min(delay, Double(retries.maxDelay.wireMilliseconds))
        return .milliseconds(Int64(capped))
    }

    /// Inputs waiting or sent to containers and not finished.
    var load: Int { pending.count + containers.values.reduce(0) { $0 + $1.assigned.count } }
    /// Containers started or serving, not being stopped or ending.
    var activeContainers: Int { containers.values.count { !$0.isStopping && !$0.isDisconnected } }
}
