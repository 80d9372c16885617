/// The store's side of a loop turn: changes made while handling events are written as one batch per turn, one
/// batch at a time; what must wait for its batch (the acknowledgement of a spawn) runs after it.
///
/// A value-type state machine; `Scheduler+Turn` runs the writes it asks for.
struct StoreBatch {
    typealias Waiter = @Sendable (Result<Void, any Error>) -> Void

    private var changes: [StoreChange] = []
    private var waiting: [Waiter] = []
    private var writing = false

    /// Whether there is anything to write or to wait for.
    var hasPending: Bool { !changes.isEmpty || !waiting.isEmpty }

    mutating func add(_ change: StoreChange) {
        changes.append(change)
    }

    /// Queues `waiter` for the end of the next batch; false when nothing is pending or being written (it may run
    /// now).
    mutating func wait(_ waiter: @escaping Waiter) -> Bool {
        guard writing || !changes.isEmpty else { return false }
        waiting.append(waiter)
        return true
    }

    /// The next batch and its waiters, if one may start now (none is being written and something is pending).
    mutating func startBatch() -> (changes: [StoreChange], waiting: [Waiter])? {
        guard !writing, hasPending else { return nil }
        defer {
            changes.removeAll()
            waiting.removeAll()
        }
        writing = true
        return (changes, waiting)
    }

    /// The batch being written is done; returns whether another is pending.
    mutating func batchEnded() -> Bool {
        writing = false
        return hasPending
    }
}
