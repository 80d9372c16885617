import AloftWire
import NIOCore

/// A call with inputs of its own: spawned, mapped, detached (`spawnMap`) or a generator.
final class CallRecord: @unchecked Sendable {
    /// Whether more inputs may come.
    enum Inputs {
        /// The caller may send more (map and detached calls stream theirs).
        case open
        /// The caller sent its last input.
        case closed
        /// Cancelled: no input runs any more, and none is added.
        case cancelled
    }

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
    var inputs = Inputs.open
    /// The caller's workspace: only it may read, feed or cancel the call.
    var workspace: String { pool.workspace }
    /// Map calls push outputs here; the connection that created the call.
    var subscriber: (any WirePeer)?
    /// A generator streamed in this process (a raw web handler's response) gets its outputs here instead.
    var localSubscriber: (@Sendable (Aloft_V1_Output) -> Void)?
    var hasSubscriber: Bool { subscriber != nil || localSubscriber != nil }
    /// Spawned calls keep results until the control plane stops.
    var results: [UInt64: Aloft_V1_Result] = [:]
    var waiters: [Waiter] = []
    /// Inputs not answered yet (their ids change per attempt, so they are kept by identity).
    var liveInputs: [ObjectIdentifier: InputRecord] = [:]
    /// Bytes of arguments its live inputs hold.
    var heldBytes = 0
    /// What the dashboard shows of it (Dashboard/), counted as it goes.
    var tally: CallTally?
    /// Its span, while a tracer records calls (Tracing/), and the inputs it was given.
    var span: CallSpan?
    var inputCount = 0

    init(id: String, kind: Aloft_V1_CallKind, pool: FunctionPool, functionName: String) {
        self.id = id
        self.kind = kind
        self.pool = pool
        self.functionName = functionName
    }

    var isCancelled: Bool { if case .cancelled = inputs { true } else { false } }

    /// The caller sent its last input (a cancelled call stays cancelled).
    func closeInputs() {
        if case .open = inputs { inputs = .closed }
    }

    /// Every input it will ever have has been answered.
    var isDone: Bool {
        guard liveInputs.isEmpty else { return false }
        if case .open = inputs { return false }
        return true
    }

    /// Removes and returns the waiters `match` selects, their timers cancelled.
    func removeWaiters(where match: (Waiter) -> Bool) -> [Waiter] {
        var removed: [Waiter] = []
        waiters.removeAll { waiter in
            guard match(waiter) else { return false }
            waiter.timer?.cancel()
            removed.append(waiter)
            return true
        }
        return removed
    }
}
