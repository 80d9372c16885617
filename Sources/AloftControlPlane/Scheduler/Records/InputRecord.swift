import AloftWire
import Foundation
import NIOCore

/// Who is waiting for an input's result.
enum InputOwner {
    /// A `.remote` call: reply to this request on this connection.
    case invoke(channel: any WirePeer, requestID: UInt64, callID: String)
    /// Part of a spawned or mapped call.
    case call(CallRecord)
    /// A call made in this process (the HTTP API): the result completes the promise.
    case local(EventLoopPromise<Aloft_V1_Result>)
}

/// One input of a call, through all its attempts.
final class InputRecord: @unchecked Sendable {
    /// Where the input is. An attempt ends when its container answers, times out or is lost; the input then goes
    /// back to `waiting` (a retry, a re-run) or to `answered`.
    enum State {
        /// In its pool's backlog, or waiting out a retry's delay.
        case waiting
        /// Sent to a container, behind the inputs that fill its slots.
        case queued(on: ContainerRecord)
        /// Running in a container until `deadline`, its timeout (the container's `deadlines` keep it).
        case running(on: ContainerRecord, deadline: NIODeadline)
        /// Its owner has its answer (a result, or a cancellation); a late output is dropped.
        case answered
    }

    /// Changes with every attempt, so an output of an earlier attempt is recognised as stale and dropped.
    var id: UInt64
    let pool: FunctionPool
    /// The function (or class method) to run.
    let functionName: String
    let index: UInt64
    /// Its argument; let go once it is answered (`HeldInputs` counts it until then).
    private(set) var data: Data
    let owner: InputOwner
    /// The connection that sent it, if one did: its bytes count against that connection's bound.
    let connection: ObjectIdentifier?
    /// It counts in `Scheduler.held` (from its queueing until its answer).
    var isHeld = false
    var state = State.waiting
    /// Retries used (user errors and timeouts), re-runs after lost hosts and stopped containers, and crashes of
    /// the containers that ran it (neither of the last two uses a retry).
    var retries = 0
    var internalRetries = 0
    var crashes = 0
    /// When it last joined the backlog, and when its current attempt started running (Metrics/).
    var queuedAt = NIODeadline.uptimeNanoseconds(0)
    var startedAt: NIODeadline?
    /// Its spans, when its call is traced (Tracing/).
    var trace: InputTrace?

    init(
        id: UInt64, pool: FunctionPool, functionName: String, index: UInt64, data: Data, owner: InputOwner,
        connection: ObjectIdentifier?
    ) {
        self.connection = connection
        self.id = id
        self.pool = pool
        self.functionName = functionName
        self.index = index
        self.data = data
        self.owner = owner
    }

    /// Lets its argument go: it never runs again.
    func releaseData() { data = Data() }

    var isAnswered: Bool { if case .answered = state { true } else { false } }

    /// It was running when a container crashed: it runs alone in a container from now on, so that its next crash
    /// is its own and does not count against inputs next to it.
    var isSuspect: Bool { crashes > 0 }

    /// The container it was sent to, while an attempt is there.
    var container: ContainerRecord? {
        switch state {
        case .queued(let container), .running(let container, _): container
        case .waiting, .answered: nil
        }
    }

    /// A generator's items already reached its caller: it is never run twice.
    var isGenerator: Bool {
        if case .call(let call) = owner { return call.kind == .generator }
        return false
    }

    /// The container it runs in, while an attempt runs.
    var runningContainer: ContainerRecord? {
        if case .running(let container, _) = state { container } else { nil }
    }

    /// Leaves the input in `next`; a running attempt's deadline is let go.
    func move(to next: State) {
        let running = runningContainer
        state = next
        if let running { running.deadlines.inputEnded(on: running) }
    }
}
