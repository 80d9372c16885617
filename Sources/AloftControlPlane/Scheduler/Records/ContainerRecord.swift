import NIOCore

/// One container of a pool, from the moment the scheduler asks for it until it is gone.
final class ContainerRecord: @unchecked Sendable {
    /// Where the container is in its life. It ends by leaving the scheduler's table (`Scheduler.containerEnded`).
    enum State {
        /// Started, not connected yet.
        case starting
        /// Connected and said hello: it takes inputs.
        case serving(any Channel)
        /// Asked to finish what it was sent and exit; `connection` is nil if it was stopped before it connected
        /// (it may still connect, and is then told to stop again).
        case stopping(connection: (any Channel)?)
    }

    let id: String
    let pool: FunctionPool
    var state = State.starting
    var handle: (any ContainerHandle)?
    /// The worker host it runs on; `nil`: this host.
    var worker: WorkerRecord?
    /// Inputs sent to the container and not finished, in the order sent (it runs them in that order).
    var assigned: [UInt64] = []
    var idleSince: NIODeadline
    /// The token its body's own calls present (`ctr:<id>:<secret>`), in its pool's workspace.
    let clientSecret = randomHex() + randomHex()
    var startupTimer: Scheduled<Void>?

    /// Inputs it takes at once, and bodies it runs at once, as its function's options were when it started.
    let slots: Int
    let bodies: Int

    init(id: String, pool: FunctionPool, now: NIODeadline) {
        self.id = id
        self.pool = pool
        self.slots = pool.slotsPerContainer
        self.bodies = pool.bodiesPerContainer
        self.idleSince = now
    }

    /// Its connection, once it has one.
    var channel: (any Channel)? {
        switch state {
        case .starting: nil
        case .serving(let channel): channel
        case .stopping(let connection): connection
        }
    }

    var isStarting: Bool { if case .starting = state { true } else { false } }
    var isServing: Bool { if case .serving = state { true } else { false } }
    var isStopping: Bool { if case .stopping = state { true } else { false } }

    /// It connected: serving, or (stopped while it started) stopping with its connection.
    func connected(_ channel: any Channel) {
        state = isStopping ? .stopping(connection: channel) : .serving(channel)
    }
}

func randomHex() -> String {
    String(UInt64.random(in: .min ... .max), radix: 16)
}
