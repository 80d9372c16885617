// The blocking forms of the SDK's calls, all in one place. Every call has one implementation, its async form; the
// blocking form of the same name is one expression over `AloftRuntime.runBlocking`, which runs the async form off
// the cooperative pool and waits (and throws, naming the async form, where waiting would deadlock). A new async
// call gets its blocking form by adding one here. (`local` is not here: its blocking form runs a blocking body
// on the calling thread.)
import AloftCore

extension Function {
    /// Blocking form of ``remote(_:)-(Input)``.
    public func remote(_ input: Input) throws -> Output {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await \(name).remote(…)") { try await self.remote(input) }
    }

    /// Blocking form of ``spawn(_:)-(Input)``.
    public func spawn(_ input: Input) throws -> FunctionCall<Output> {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await \(name).spawn(…)") { try await self.spawn(input) }
    }

    /// Blocking form of ``stats()-()``.
    public func stats() throws -> FunctionStats {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await \(name).stats()") { try await self.stats() }
    }

    /// Blocking form of ``forEach(_:ignoreExceptions:)``.
    public func forEach<Inputs: Sequence & Sendable>(_ inputs: Inputs, ignoreExceptions: Bool = false) throws
    where Inputs.Element == Input {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await \(name).forEach(…)") {
            try await self.forEach(inputs, ignoreExceptions: ignoreExceptions)
        }
    }

    /// Blocking form of ``spawnMap(_:)``.
    public func spawnMap<Inputs: Sequence & Sendable>(_ inputs: Inputs) throws where Inputs.Element == Input {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await \(name).spawnMap(…)") {
            try await self.spawnMap(inputs)
        }
    }
}

extension FunctionCall {
    /// Blocking form of ``get(timeout:)-(Duration?)``.
    public func get(timeout: Duration? = nil) throws -> Output {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await call.get(timeout:)") {
            try await self.get(timeout: timeout)
        }
    }

    /// Blocking form of ``cancel()-()``.
    public func cancel() throws {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await call.cancel()") { try await self.cancel() }
    }

    /// Blocking form of ``gather(_:)-([FunctionCall<Output>])``.
    public static func gather(_ calls: [FunctionCall<Output>]) throws -> [Output] {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await FunctionCall.gather(calls)") {
            try await gather(calls)
        }
    }
}
