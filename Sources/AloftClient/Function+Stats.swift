import AloftCore
import AloftWire

/// A function's load, as the control plane sees it now: Modal's `FunctionStats`.
public struct FunctionStats: Sendable, Hashable {
    /// Inputs waiting for a container slot.
    public var backlog: Int
    public var runningInputs: Int
    /// Containers started or starting.
    public var containers: Int
    /// Why no container of it can start anywhere, while that is so: its `cpu`, `memory` or `gpu` requests exceed
    /// every host the control plane has (its inputs wait for a host that can take them).
    public var unplaceable: String?

    public init(backlog: Int, runningInputs: Int, containers: Int, unplaceable: String? = nil) {
        self.backlog = backlog
        self.runningInputs = runningInputs
        self.containers = containers
        self.unplaceable = unplaceable
    }
}

extension Function {
    /// The function's backlog, running inputs and containers (Modal's `get_current_stats`).
    public func stats() async throws -> FunctionStats {
        let (connection, functionID) = try await connectAndRegister()
        var request = Aloft_V1_FunctionGetStats()
        request.functionID = functionID
        guard case .functionStats(let stats) = try await connection.request(.functionGetStats(request)) else {
            throw AloftError(.protocolError, "unexpected reply to the stats of '\(name)'")
        }
        return FunctionStats(
            backlog: Int(stats.backlog), runningInputs: Int(stats.runningInputs), containers: Int(stats.containers),
            unplaceable: stats.unplaceable.isEmpty ? nil : stats.unplaceable)
    }
}
