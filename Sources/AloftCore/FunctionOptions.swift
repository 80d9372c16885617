/// How a function runs: the counterpart of the keyword arguments of Modal's `@app.function(...)`.
///
/// Every field has Modal's default, is validated with Modal's limits, and is applied by the control plane and the
/// container (timeouts, retries, concurrency, autoscaling).
public struct FunctionOptions: Sendable, Hashable {
    /// Per-attempt timeout, 1 s to 24 h. Default 300 s.
    public var timeout: Duration
    /// Time a new container may take to start; `nil` means the same as `timeout`.
    public var startupTimeout: Duration?
    public var retries: Retries
    /// Inputs one container runs at once.
    public var maxInputs: Int
    /// Inputs per container the autoscaler aims for; `nil` means `maxInputs`.
    public var targetInputs: Int?
    /// Containers kept warm even when idle.
    public var minContainers: Int
    /// Upper bound on containers for this function; `nil` uses the control plane's default.
    public var maxContainers: Int?
    /// Extra idle containers kept while the function is busy.
    public var bufferContainers: Int
    /// How long an idle container lives before it exits. Default 60 s.
    public var scaledownWindow: Duration
    /// Dynamic batching; set by `App.batchedFunction`, which declares a body that takes arrays.
    public var batching: Batching?
    /// Added to each container's environment before user code runs (Modal's `env`). Not for credentials: stored
    /// as they are; use `secrets`.
    public var environment: [String: String]
    /// Secrets whose keys each container gets as environment variables, after `environment` and in order (a later
    /// key wins). App-level secrets (`AppConfiguration.secrets`) come first.
    public var secrets: [Secret]
    /// When a deployed function without arguments runs on its own (Modal's `schedule=`); `nil`: only when called.
    public var schedule: Schedule?
    /// CPU cores requested and, optionally, a hard limit (Modal's `cpu=`). Default: 0.125 requested, no limit.
    public var cpu: CPU
    /// Memory in MiB requested and, optionally, a hard limit (Modal's `memory=`). Default: 128 requested, no limit.
    public var memory: Memory
    /// The size of the container's writable `/tmp` in MiB (Modal's `ephemeral_disk=`); `nil`: the runtime's
    /// default (1 GiB). Files there count towards the container's memory.
    public var ephemeralDisk: Int?
    /// No network but the connection to the control plane (Modal's `block_network=True`).
    public var blockNetwork: Bool
    /// GPUs each container needs (Modal's `gpu=`); `nil`: none.
    public var gpu: GPU?

    /// Modal's `@modal.batched(max_batch_size=, wait_ms=)`: a batch runs when it has `maxBatchSize` inputs or
    /// when its first input has waited `wait`.
    public struct Batching: Sendable, Hashable {
        public var maxBatchSize: Int
        public var wait: Duration
        public init(maxBatchSize: Int, wait: Duration) {
            self.maxBatchSize = maxBatchSize
            self.wait = wait
        }
    }

    public init(
        timeout: Duration = .seconds(300),
        startupTimeout: Duration? = nil,
        retries: Retries = .none,
        maxInputs: Int = 1,
        targetInputs: Int? = nil,
        minContainers: Int = 0,
        maxContainers: Int? = nil,
        bufferContainers: Int = 0,
        scaledownWindow: Duration = .seconds(60),
        environment: [String: String] = [:],
        secrets: [Secret] = [],
        schedule: Schedule? = nil,
        cpu: CPU = .default,
        memory: Memory = .default,
        ephemeralDisk: Int? = nil,
        blockNetwork: Bool = false,
        gpu: GPU? = nil
    ) {
        self.gpu = gpu
        self.cpu = cpu
        self.memory = memory
        self.ephemeralDisk = ephemeralDisk
        self.blockNetwork = blockNetwork
        self.schedule = schedule
        self.environment = environment
        self.secrets = secrets
        self.timeout = timeout
        self.startupTimeout = startupTimeout
        self.retries = retries
        self.maxInputs = maxInputs
        self.targetInputs = targetInputs
        self.minContainers = minContainers
        self.maxContainers = maxContainers
        self.bufferContainers = bufferContainers
        self.scaledownWindow = scaledownWindow
    }

    /// These options with concurrent inputs: Modal's `@modal.concurrent(max_inputs=, target_inputs=)`.
    ///
    /// One container then runs up to `maxInputs` inputs at once: a blocking body on that many threads of its own,
    /// an async body as tasks on the container's one async executor thread.
    public func concurrent(maxInputs: Int, targetInputs: Int? = nil) -> FunctionOptions {
        var options = self
        options.maxInputs = maxInputs
        options.targetInputs = targetInputs
        return options
    }

    /// Checks the limits Modal enforces; throws `invalidConfiguration` naming the offending field.
    public func validate() throws(AloftError) {
        func fail(_ message: String) -> AloftError { AloftError(.invalidConfiguration, message) }
        if timeout < .seconds(1) || timeout > .seconds(86_400) {
            throw fail("timeout must be between 1 s and 24 h, got \(timeout)")
        }
        if let startupTimeout, startupTimeout < .seconds(1) || startupTimeout > .seconds(86_400) {
            throw fail("startupTimeout must be between 1 s and 24 h, got \(startupTimeout)")
        }
        if maxInputs < 1 { throw fail("maxInputs must be at least 1, got \(maxInputs)") }
        if let targetInputs, targetInputs < 1 || targetInputs > maxInputs {
            throw fail("targetInputs must be between 1 and maxInputs (\(maxInputs)), got \(targetInputs)")
        }
        if minContainers < 0 { throw fail("minContainers must not be negative") }
        if let maxContainers, maxContainers < 1 || maxContainers < minContainers {
            throw fail(
                "maxContainers must be at least 1 and at least minContainers (\(minContainers)), got \(maxContainers)")
        }
        if bufferContainers < 0 { throw fail("bufferContainers must not be negative") }
        if scaledownWindow <= .zero { throw fail("scaledownWindow must be greater than zero") }
        if let batching {
            if batching.maxBatchSize < 1 || batching.maxBatchSize > 1000 {
                throw fail("maxBatchSize must be between 1 and 1000, got \(batching.maxBatchSize)")
            }
            if batching.wait < .zero || batching.wait > .seconds(600) {
                throw fail("batch wait must be between 0 and 10 minutes, got \(batching.wait)")
            }
        }
        try retries.validate()
        for key in environment.keys { try EnvironmentName.validate(key, what: "environment key") }
        for secret in secrets { try secret.validate() }
        try schedule?.validate()
        try validateResources()
        try validateGPU()
    }
}

/// Retry policy: Modal's `Retries(max_retries:backoff_coefficient:initial_delay:max_delay:)`.
/// `Retries.count(n)` is the integer shorthand (`initialDelay` 1 s, coefficient 1).
public struct Retries: Sendable, Hashable {
    public var maxRetries: Int
    public var backoffCoefficient: Double
    public var initialDelay: Duration
    public var maxDelay: Duration

    public init(
        maxRetries: Int, backoffCoefficient: Double = 2.0, initialDelay: Duration = .seconds(1),
        maxDelay: Duration = .seconds(60)
    ) {
        self.maxRetries = maxRetries
        self.backoffCoefficient = backoffCoefficient
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
    }

    public static let none = Retries(maxRetries: 0)
    public static func count(_ n: Int) -> Retries {
        Retries(maxRetries: n, backoffCoefficient: 1.0, initialDelay: .seconds(1))
    }

    public func validate() throws(AloftError) {
        func fail(_ message: String) -> AloftError { AloftError(.invalidConfiguration, message) }
        if maxRetries < 0 || maxRetries > 10 { throw fail("retries must be between 0 and 10, got \(maxRetries)") }
        if backoffCoefficient < 1 || backoffCoefficient > 10 {
            throw fail("backoffCoefficient must be between 1 and 10, got \(backoffCoefficient)")
        }
        if initialDelay < .zero || initialDelay > .seconds(60) { throw fail("initialDelay must be between 0 and 60 s") }
        if maxDelay < .seconds(1) || maxDelay > .seconds(60) { throw fail("maxDelay must be between 1 and 60 s") }
    }
}
