import AloftCore
import AloftWire
import Foundation

/// A spawned call: Modal's `FunctionCall`, like a future whose result lives on the control plane.
public struct FunctionCall<Output: Codable & Sendable>: Sendable, Hashable {
    /// `fc-…`; pass it to another process and look the call up there with ``init(id:app:)``.
    public let id: String
    let app: App
    let functionName: String

    init(id: String, app: App, functionName: String) {
        self.id = id
        self.app = app
        self.functionName = functionName
    }

    /// Looks up a call by id (Modal's `FunctionCall.from_id`). Nothing is checked until the first use.
    public init(id: String, app: App) {
        self.init(id: id, app: app, functionName: "call \(id)")
    }

    /// Looks up a call by id on a server (Modal's `FunctionCall.from_id`), from any process: a spawned call's
    /// result is kept there (7 days by default), across restarts. Nothing is checked until the first use.
    ///
    /// - Parameter controlPlane: the server; default `ALOFT_CONTROL_PLANE` (and `ALOFT_TOKEN` for its token).
    public static func lookup(
        id: String, controlPlane: any ControlPlaneProvider = RemoteControlPlane.environment
    ) -> Self {
        Self(id: id, app: App("", controlPlane: controlPlane), functionName: "call \(id)")
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    /// Waits for the result. With a `timeout` it throws a `timeout` error if the call has not finished by then;
    /// `.zero` polls once. Without one it waits as long as it takes.
    public func get(timeout: Duration? = nil) async throws -> Output {
        let connection = try await AloftRuntime.shared.connection(for: app.controlPlane)
        var get = Aloft_V1_CallGet()
        get.callID = id
        get.timeoutMs = timeout.map { max(0, $0.wireMilliseconds) } ?? -1
        guard case .callGetResult(let reply) = try await connection.request(.callGet(get)) else {
            throw AloftError(.protocolError, "unexpected reply to getting the result of \(id)")
        }
        guard reply.ready else {
            throw AloftError(.timeout, "call \(id) did not finish within \(timeout ?? .zero)")
        }
        return try Function<NoArguments, Output>.decode(reply.result, functionName: functionName)
    }

    /// Cancels the call: `get` throws a `cancelled` error; it is never retried; inputs not started never run, and a
    /// running one is stopped in its container (an async body's task is cancelled, a blocking body sees
    /// `AloftInput.isCancelled`; one that does not stop has its container stopped after a grace period).
    public func cancel() async throws {
        let connection = try await AloftRuntime.shared.connection(for: app.controlPlane)
        var cancel = Aloft_V1_CallCancel()
        cancel.callID = id
        _ = try await connection.request(.callCancel(cancel))
    }

    /// Waits for every call and returns their results in argument order; throws the first failure (the other
    /// calls keep running).
    public static func gather(_ calls: [FunctionCall<Output>]) async throws -> [Output] {
        try await withThrowingTaskGroup(of: (Int, Output).self) { group in
            for (position, call) in calls.enumerated() {
                group.addTask { (position, try await call.get()) }
            }
            var results = [Output?](repeating: nil, count: calls.count)
            for try await (position, output) in group { results[position] = output }
            return results.map { $0! }
        }
    }
}
