import AloftWire
import Foundation
import NIOCore

// The scheduler's records. All of them live on the control plane's event loop and are touched nowhere else;
// they are marked Sendable only so that timers scheduled on that same loop may capture them.

/// The containers and backlog of one function of one app.
final class FunctionPool: @unchecked Sendable {
    let id: UInt64
    /// The workspace that registered it (empty without an authenticator): only that workspace may call it.
    let workspace: String
    let appName: String
    let name: String
    var executable: String
    var arguments: [String]
    var options: Aloft_V1_FunctionOptions
    /// For a deployed function: the SHA-256 of its executable in the artifact store (worker hosts fetch it by that).
    var artifact: String
    /// Why its app stopped it, if it did: it then takes no calls and runs no containers until the app is deployed
    /// again.
    var stopReason: String?
    var stopped: Bool { stopReason != nil }
    /// Defined by a deployment (`aloft deploy`, a rollback): a run of the app against the server uses it as it is.
    var deployed: Bool
    let defaultMaxContainers: Int
    /// For the pool of a class and parameter set: what its containers construct.
    let className: String
    let classParameters: Data
    /// Input ids waiting for a container slot, oldest first. Cancelled inputs are skipped when reached.
    var pending = CircularBuffer<UInt64>()
    var containers: [String: ContainerRecord] = [:]
    var consecutiveStartFailures = 0
    /// Cancelled inputs still in `pending` (removed before the backlog is counted).
    var cancelledInBacklog = 0
    var lastStartFailure = ""

    init(id: UInt64, workspace: String, register: Aloft_V1_FunctionRegister, defaultMaxContainers: Int) {
        self.id = id
        self.workspace = workspace
        self.appName = register.appName
        self.name = register.poolName.isEmpty ? register.functionName : register.poolName
        self.className = register.className
        self.classParameters = register.classParameters
        self.executable = register.executable
        self.arguments = register.arguments
        self.options = register.options
        self.artifact = register.artifact
        self.deployed = register.deployed
        self.defaultMaxContainers = defaultMaxContainers
    }

    /// Bodies a container runs at once (`maxInputs`).
    var bodiesPerContainer: Int { max(1, Int(options.maxInputs)) }
    /// Inputs a container takes at once: a batched function's container gets a full batch for each body.
    var slotsPerContainer: Int { bodiesPerContainer * max(1, Int(options.maxBatchSize)) }
    /// Inputs per container the autoscaler aims for (`targetInputs`, default `maxInputs`, times the batch size).
    var targetPerContainer: Int {
        let target = options.targetInputs > 0 ? min(Int(options.targetInputs), bodiesPerContainer) : bodiesPerContainer
        return target * max(1, Int(options.maxBatchSize))
    }
    var maxContainers: Int { options.maxContainers > 0 ? Int(options.maxContainers) : defaultMaxContainers }
    var scaledownWindow: TimeAmount { .milliseconds(Int64(options.scaledownWindowMs == 0 ? 60_000 : options.scaledownWindowMs)) }
    var timeout: TimeAmount { .milliseconds(Int64(options.timeoutMs == 0 ? 300_000 : options.timeoutMs)) }

    /// Delay before retry number `retry` (1-based): Modal's `initial_delay * coefficient^(retry-1)`, capped.
    func retryDelay(_ retry: Int) -> TimeAmount {
        let delay = Double(options.initialDelayMs) * pow(max(1, options.backoffCoefficient), Double(retry - 1))
        let capped = min(delay, Double(options.maxDelayMs == 0 ? 60_000 : options.maxDelayMs))
        return .milliseconds(Int64(capped))
    }

    var startupTimeout: TimeAmount {
        let ms = options.startupTimeoutMs != 0 ? options.startupTimeoutMs : (options.timeoutMs != 0 ? options.timeoutMs : 300_000)
        return .milliseconds(Int64(ms))
    }
}

final class ContainerRecord: @unchecked Sendable {
    let id: String
    let pool: FunctionPool
    var handle: (any ContainerHandle)?
    /// The worker host it runs on; `nil`: this host.
    var worker: WorkerRecord?
    /// Set once the container has connected and said hello; until then it is starting.
    var channel: (any Channel)?
    /// Inputs sent to the container and not finished, in the order sent (it runs them in that order).
    var assigned: [UInt64] = []
    var idleSince: NIODeadline = .now()
    var stopping = false
    /// The token its body's own calls present (`ctr:<id>:<secret>`), in its pool's workspace.
    let clientSecret = randomHex() + randomHex()
    var startupTimer: Scheduled<Void>?

    /// Inputs it takes at once, and bodies it runs at once, as its function's options were when it started.
    let slots: Int
    let bodies: Int

    init(id: String, pool: FunctionPool) {
        self.id = id
        self.pool = pool
        self.slots = pool.slotsPerContainer
        self.bodies = pool.bodiesPerContainer
    }

    var isStarting: Bool { channel == nil && !stopping }
    var isServing: Bool { channel != nil && !stopping }
}

/// Who is waiting for an input's result.
enum InputOwner {
    /// A `.remote` call: reply to this request on this connection.
    case invoke(channel: any Channel, requestID: UInt64, callID: String)
    /// Part of a spawned or mapped call.
    case call(CallRecord)
    /// A call made in this process (the HTTP API): the result completes the promise.
    case local(EventLoopPromise<Aloft_V1_Result>)
}

final class InputRecord: @unchecked Sendable {
    /// Changes with every attempt, so an output of an earlier attempt is recognised as stale and dropped.
    var id: UInt64
    let pool: FunctionPool
    let index: UInt64
    let data: Data
    let owner: InputOwner
    var container: ContainerRecord?
    /// The owner already has its answer (the input was cancelled); a late output is dropped.
    var resolved = false
    /// Retries used (user errors and timeouts), and re-runs after lost containers (which use none).
    var retries = 0
    var internalRetries = 0
    /// Runs out the attempt's timeout, from when the input starts running in its container.
    var timeoutTimer: Scheduled<Void>?

    /// A generator's items already reached its caller: it is never run twice.
    var isGenerator: Bool {
        if case .call(let call) = owner { return call.kind == .generator }
        return false
    }

    /// The function (or class method) to run.
    let functionName: String

    init(id: UInt64, pool: FunctionPool, functionName: String, index: UInt64, data: Data, owner: InputOwner) {
        self.id = id
        self.pool = pool
        self.functionName = functionName
        self.index = index
        self.data = data
        self.owner = owner
    }
}

final class CallRecord: @unchecked Sendable {
    /// Someone waiting for a result of this call.
    struct Waiter {
        let id: UInt64
        let index: UInt64
        /// The connection waiting, if it is one: its waiters are dropped when it closes.
        let channel: ObjectIdentifier?
        /// Answers the waiter: the result, or nil when its timeout passed first.
        let respond: @Sendable (Aloft_V1_Result?) -> Void
        var timer: Scheduled<Void>?
    }

    let id: String
    let kind: Aloft_V1_CallKind
    let pool: FunctionPool
    let functionName: String
    /// The caller's workspace: only it may read, feed or cancel the call.
    var workspace: String { pool.workspace }
    /// Map calls push outputs here; the connection that created the call.
    var subscriber: (any Channel)?
    /// Spawned calls keep results until the control plane stops.
    var results: [UInt64: Aloft_V1_Result] = [:]
    var waiters: [Waiter] = []
    /// Inputs not finished yet (their ids change per attempt, so they are kept by identity).
    var liveInputs: [ObjectIdentifier: InputRecord] = [:]
    var cancelled = false
    /// The caller has sent its last input (map and detached calls).
    var inputsClosed = false

    init(id: String, kind: Aloft_V1_CallKind, pool: FunctionPool, functionName: String) {
        self.id = id
        self.kind = kind
        self.pool = pool
        self.functionName = functionName
    }
}
