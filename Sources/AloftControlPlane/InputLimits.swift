/// Bounds on the inputs a control plane holds in memory (those not answered yet: queued, running, waiting to be
/// retried). An input past a bound is refused with `resourceExhausted` and nothing of its request is kept; a call
/// that ends frees what it held at once.
///
/// The SDK keeps a map's window under the per-call bounds (the control plane names them in its `HelloReply`), so
/// only a client that ignores its window, or several large maps on one connection, meets them.
public struct InputLimits: Sendable, Hashable {
    /// Inputs one map or generator call may have unanswered (Modal's `max_inputs_outstanding` is 1,000; the SDK's
    /// default window is 1,000).
    public var inputsPerCall: Int
    /// Bytes of arguments one map or generator call may have unanswered.
    public var bytesPerCall: Int
    /// Bytes of arguments the inputs sent on one connection may hold, over all its calls.
    public var bytesPerConnection: Int
    /// Inputs one workspace may have unanswered, over all its calls (Modal: spawns up to a million).
    public var inputsPerWorkspace: Int
    /// Bytes of arguments one workspace's unanswered inputs may hold.
    public var bytesPerWorkspace: Int

    public init(
        inputsPerCall: Int = 10_000,
        bytesPerCall: Int = 256 << 20,
        bytesPerConnection: Int = 512 << 20,
        inputsPerWorkspace: Int = 1_000_000,
        bytesPerWorkspace: Int = 2 << 30
    ) {
        self.inputsPerCall = inputsPerCall
        self.bytesPerCall = bytesPerCall
        self.bytesPerConnection = bytesPerConnection
        self.inputsPerWorkspace = inputsPerWorkspace
        self.bytesPerWorkspace = bytesPerWorkspace
    }
}
