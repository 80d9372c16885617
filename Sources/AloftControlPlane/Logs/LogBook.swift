import AloftCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The lines a control plane's containers print: numbered, the newest kept in memory for followers and recent
/// queries, written to the `LogStore` off the event loop, read back from it for older ones.
///
/// Memory stays bounded whoever reads: `recentLimit` bytes of lines in memory, at most `unwrittenLimit` waiting to
/// be written (past that, while the store lags, lines are not stored and a warning says how many), and a follower
/// holds only its cursor: one that falls behind reads from the store, where memory no longer reaches.
final class LogBook: Sendable {
    private struct Waiter {
        let query: LogQuery
        let continuation: CheckedContinuation<[LogLine], Never>
    }

    private struct State {
        var last: UInt64 = 0
        var recent = CircularBuffer<LogLine>()
        var recentBytes = 0
        var unwritten: [LogLine] = []
        var unwrittenBytes = 0
        var writing = false
        /// The first line of the batch the store is writing now, if it is writing one.
        var inFlightFrom: UInt64?
        /// Sequences up to this are reserved in the store: a restart numbers on after them, so that no number a
        /// follower saw is given to another line.
        var reserved: UInt64 = 0
        /// Lines not stored because the store fell behind, since the last warning.
        var dropped = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiter: UInt64 = 0
        var closed = false
    }

    private let state = Mutex(State())
    let store: (any LogStore)?
    private let recentLimit: Int
    private let unwrittenLimit: Int
    private let logger: Logger

    /// Keeps `recentLimit` bytes of the newest lines in memory, and at most `unwrittenLimit` (default four times
    /// as many) waiting for the store.
    init(store: (any LogStore)?, recentLimit: Int = 8 << 20, unwrittenLimit: Int? = nil, logger: Logger) {
        self.store = store
        self.recentLimit = recentLimit
        self.unwrittenLimit = unwrittenLimit ?? recentLimit * 4
        self.logger = logger
    }

    /// Sequences reserved in the store at a time.
    static let reservation: UInt64 = 100_000

    /// Continues the store's numbering after every number it may have handed out (blocking: call it once, before
    /// lines arrive).
    func open() throws {
        guard let store else { return }
        let last = try store.lastSequence()
        try store.reserve(through: last + Self.reservation)
        state.withLock { state in
            state.last = max(state.last, last)
            state.reserved = last + Self.reservation
        }
    }

    /// The sequence of the newest line.
    var lastSequence: UInt64 { state.withLock { $0.last } }
    var hasWaiters: Bool { state.withLock { !$0.waiters.isEmpty } }
    /// What the lines in memory cost: at most `recentLimit`, or up to `unwrittenLimit` more while the store lags.
    var recentBytes: Int { state.withLock { $0.recentBytes } }
    /// Whether the store is writing (or about to write) lines.
    var isWriting: Bool { state.withLock { $0.writing } }

    /// Numbers `lines`, keeps them, wakes the followers they match, and has the store write them.
    func append(_ lines: [LogLine]) {
        guard !lines.isEmpty else { return }
        var woken: [(CheckedContinuation<[LogLine], Never>, [LogLine])] = []
        let write = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            var numbered = lines
            for index in numbered.indices {
                state.last += 1
                numbered[index].sequence = state.last
                state.recent.append(numbered[index])
                state.recentBytes += numbered[index].bytes
            }
            // Lines the store does not have yet stay (up to the limit of those waiting for it), so that a reader
            // that reaches past memory finds them in the store.
            let notStored =
                store == nil ? nil : min(state.inFlightFrom ?? .max, state.unwritten.first?.sequence ?? .max)
            while state.recentBytes > recentLimit, let first = state.recent.first,
                first.sequence < (notStored ?? .max) || state.recentBytes > recentLimit + unwrittenLimit
            {
                state.recentBytes -= first.bytes
                state.recent.removeFirst()
            }
            for (id, waiter) in state.waiters {
                let matched = waiter.query.select(from: numbered)
                guard !matched.isEmpty else { continue }
                state.waiters[id] = nil
                woken.append((waiter.continuation, matched))
            }
            guard store != nil else { return false }
            for line in numbered {
                guard state.unwrittenBytes < unwrittenLimit else {
                    state.dropped += 1
                    continue
                }
                state.unwritten.append(line)
                state.unwrittenBytes += line.bytes
            }
            defer { state.writing = true }
            return !state.writing
        }
        for (continuation, matched) in woken { continuation.resume(returning: matched) }
        if write { NIOThreadPool.singleton.submit { [self] _ in drain() } }
    }

    /// Writes what is waiting, batch after batch, until nothing is (on a thread of the pool, one at a time).
    private func drain() {
        while true {
            let (batch, dropped, reserve) = state.withLock { state -> ([LogLine], Int, UInt64?) in
                defer {
                    state.unwritten = []
                    state.unwrittenBytes = 0
                    state.dropped = 0
                }
                state.inFlightFrom = state.unwritten.first?.sequence
                if state.unwritten.isEmpty { state.writing = false }
                let reserve = state.last + Self.reservation / 2 > state.reserved ? state.last + Self.reservation : nil
                if let reserve { state.reserved = reserve }
                return (state.unwritten, state.dropped, reserve)
            }
            if dropped > 0 {
                logger.warning(
                    "container output not stored: the log store fell behind",
                    metadata: ["aloft.lines": "\(dropped)"])
            }
            defer { state.withLock { $0.inFlightFrom = nil } }
            guard !batch.isEmpty, let store else { return }
            do {
                if let reserve { try store.reserve(through: reserve) }
                try store.append(batch)
            } catch {
                logger.error(
                    "container output could not be stored",
                    metadata: ["aloft.lines": "\(batch.count)", "aloft.error": "\(error)"])
            }
        }
    }

    /// The lines `query` selects: from memory where it reaches back far enough, else from the store too.
    func lines(_ query: LogQuery) async throws -> [LogLine] {
        let (fromMemory, oldestInMemory) = state.withLock { state in
            (query.select(from: state.recent), state.recent.first?.sequence ?? (state.last + 1))
        }
        guard let store, oldestInMemory > 1, query.after < oldestInMemory - 1,
            query.newest ? fromMemory.count < query.limit : true
        else { return fromMemory }
        var older = query
        older.before = min(query.before ?? .max, oldestInMemory)
        if query.newest { older.limit = query.limit - fromMemory.count }
        let stored = try await NIOThreadPool.singleton.runIfActive { [older] in try store.lines(matching: older) }
        if query.newest { return stored + fromMemory }
        return stored.count >= query.limit ? stored : stored + fromMemory.prefix(query.limit - stored.count)
    }

    /// The lines `query` selects, or, when there are none yet, the first that arrive within `timeout` (none if
    /// none do, or the task is cancelled). Throws `cancelled` once the book is closed (the control plane stopped).
    func wait(_ query: LogQuery, timeout: Duration) async throws -> [LogLine] {
        let ready = try await lines(query)
        guard ready.isEmpty else { return ready }
        if state.withLock({ $0.closed }) { throw AloftError(.cancelled, "the control plane is stopping") }
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        // The timer may fire before the waiter is registered: registration checks the deadline too.
        let deadline = ContinuousClock.now + timeout
        let timer = Task {
            try? await Task.sleep(until: deadline)
            resume(waiter: id)
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> [LogLine]? in
                    // What arrived since the read above is in memory.
                    let arrived = query.select(from: state.recent)
                    if !arrived.isEmpty || state.closed || Task.isCancelled || ContinuousClock.now >= deadline {
                        return arrived
                    }
                    state.waiters[id] = Waiter(query: query, continuation: continuation)
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            resume(waiter: id)
        }
    }

    private func resume(waiter id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: [])
    }

    /// Ends the waits and writes what is left (blocking: at shutdown).
    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.continuation.resume(returning: []) }
        let (batch, writing) = state.withLock { state in
            defer {
                state.unwritten = []
                state.unwrittenBytes = 0
            }
            return (state.unwritten, state.writing)
        }
        // A drain in progress writes its batch; what it had not taken is written here, after it.
        if writing { while state.withLock({ $0.writing }) { usleep(1_000) } }
        if let store, !batch.isEmpty { try? store.append(batch) }
    }
}
