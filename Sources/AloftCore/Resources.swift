/// What a function's containers may use, the counterparts of Modal's `cpu=`, `memory=`, `ephemeral_disk=` and
/// `block_network=`. They are applied where the container runtime isolates containers (`aloft server` and
/// `aloft worker` with `--isolation bwrap`, their default as root); plain processes (`--isolation none`, the
/// embedded default) get no limits.
extension FunctionOptions {
    /// CPU cores: a request and an optional hard limit, as Modal's `cpu=0.5` or `cpu=(0.25, 1)`.
    ///
    /// `cpu: 0.5` requests half a core (its share of the host's CPU when cores are contended) and sets no limit,
    /// as Modal's single number does; `cpu: .init(request: 0.25, limit: 1)` also caps it at one core (a CFS quota).
    public struct CPU: Sendable, Hashable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
        /// Cores guaranteed under contention. Modal's default: 0.125.
        public var request: Double
        /// Cores it may never exceed; `nil`: no hard limit.
        public var limit: Double?

        public static let `default` = CPU(request: 0.125)

        public init(request: Double, limit: Double? = nil) {
            self.request = request
            self.limit = limit
        }
        public init(floatLiteral value: Double) { self.init(request: value) }
        public init(integerLiteral value: Int) { self.init(request: Double(value)) }
    }

    /// Memory in MiB: a request and an optional hard limit, as Modal's `memory=512` or `memory=(256, 1024)`.
    ///
    /// A container that goes over its limit is killed by the kernel, and the inputs it ran fail with
    /// `AloftError.Code.outOfMemory`, naming the limit.
    public struct Memory: Sendable, Hashable, ExpressibleByIntegerLiteral {
        /// MiB reserved for it when containers are placed. Modal's default: 128.
        public var request: Int
        /// MiB it may never exceed; `nil`: no hard limit.
        public var limit: Int?

        public static let `default` = Memory(request: 128)

        public init(request: Int, limit: Int? = nil) {
            self.request = request
            self.limit = limit
        }
        public init(integerLiteral value: Int) { self.init(request: value) }
    }

    func validateResources() throws(AloftError) {
        func fail(_ message: String) -> AloftError { AloftError(.invalidConfiguration, message) }
        // Limits as Modal's: up to 64 cores and 336 GiB of memory, 3 TiB of ephemeral disk.
        if !(cpu.request > 0 && cpu.request <= 64) {
            throw fail("cpu must be between 0 and 64 cores, got \(cpu.request)")
        }
        if let limit = cpu.limit, !(limit >= cpu.request && limit <= 64) {
            throw fail("the cpu limit must be at least the request (\(cpu.request)) and at most 64 cores, got \(limit)")
        }
        if memory.request < 1 || memory.request > 344_064 {
            throw fail("memory must be between 1 and 344,064 MiB, got \(memory.request)")
        }
        if let limit = memory.limit, limit < memory.request || limit > 344_064 {
            throw fail("the memory limit must be at least the request (\(memory.request) MiB), got \(limit) MiB")
        }
        if let ephemeralDisk, ephemeralDisk < 1 || ephemeralDisk > 3_145_728 {
            throw fail("ephemeralDisk must be between 1 MiB and 3 TiB, got \(ephemeralDisk) MiB")
        }
    }
}

extension FunctionOptions {
    /// GPUs a container needs, Modal's `gpu="H100"`, `gpu="A100-80GB:4"` or `gpu=["H100", "A100:2"]`: a type and a
    /// count (default 1), or several in fall-back order (the first that a host can give is used). `"any"` is any
    /// type. Containers are placed only on hosts with that many free GPUs of the type (`aloft worker --gpus`), which
    /// get them through `CUDA_VISIBLE_DEVICES`.
    public struct GPU: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByArrayLiteral {
        public struct Choice: Sendable, Hashable {
            /// The GPU type as hosts name it (`H100`, `A100-80GB`), matched without regard to case; `any`: any.
            public var type: String
            public var count: Int
            public init(type: String, count: Int) {
                self.type = type
                self.count = count
            }

            /// Whether a GPU of `deviceType` will do: `any`, the same type, or a variant of it (`H100` takes an
            /// `H100-80GB-HBM3`, as `nvidia-smi` names one; `A100-80GB` does not take an `A100-40GB`).
            public func accepts(_ deviceType: String) -> Bool {
                let wanted = type.lowercased()
                let device = deviceType.lowercased()
                return wanted == "any" || device == wanted || device.hasPrefix(wanted + "-")
            }
        }

        /// In fall-back order.
        public var choices: [Choice]

        /// Reads `TYPE[:COUNT]`; a bad one is kept as a zero count, which `validate` refuses with its text.
        public init(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let type = parts.first.map(String.init) ?? ""
            let count = parts.count == 2 ? Int(parts[1]) ?? 0 : 1
            choices = [Choice(type: type, count: count)]
        }
        public init(choices: [Choice]) { self.choices = choices }
        public init(stringLiteral text: String) { self.init(text) }
        public init(arrayLiteral texts: String...) { choices = texts.flatMap { GPU($0).choices } }

        /// `TYPE:COUNT` of each choice, as the wire carries them.
        public var descriptions: [String] { choices.map { "\($0.type):\($0.count)" } }
    }

    func validateGPU() throws(AloftError) {
        guard let gpu else { return }
        if gpu.choices.isEmpty { throw AloftError(.invalidConfiguration, "gpu names no GPU type") }
        for choice in gpu.choices where choice.type.isEmpty || choice.count < 1 || choice.count > 8 {
            throw AloftError(
                .invalidConfiguration, "gpu must be TYPE or TYPE:COUNT with 1 to 8 GPUs (\"H100:2\"), got \(gpu)")
        }
    }
}
