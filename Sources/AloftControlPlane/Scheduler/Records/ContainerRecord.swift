import AloftCore
import Foundation
import NIOCore

/// One container of a pool, from the moment the scheduler asks for it until it is gone.
final class ContainerRecord: @unchecked Sendable {
    /// Where the container is in its life. It ends by leaving the scheduler's table (`Scheduler.containerEnded`).
    enum State {
        /// Started, not connected yet.
        case starting
        /// Connected and said hello: it takes inputs.
        case serving(any WirePeer)
        /// Asked to finish what it was sent and exit; `connection` is nil if it was stopped before it connected
        /// (it may still connect, and is then told to stop again).
        case stopping(connection: (any WirePeer)?)
        /// Its connection closed while it ran inputs, before its process was seen to exit: it takes nothing more,
        /// and ends when the exit is reported (whose status says whether it crashed), or a moment later.
        case disconnected
    }

    /// How a container's end came about, which decides what happens to the inputs it was running.
    enum End {
        /// Its process exited or its connection closed: a crash of the function's code if it was running inputs
        /// and the scheduler had not stopped it.
        case died
        /// Its worker host was lost: not the inputs' fault.
        case hostLost
        /// The scheduler killed it (an input timed out, or a cancelled one did not stop).
        case killed
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
    /// A cold start's span, while a tracer records calls (Tracing/): from its start until it connects.
    var startSpan: CallSpan?
    /// When the scheduler asked for it.
    let createdAt: NIODeadline
    /// Outputs it answered (Dashboard/).
    var served = 0
    /// The token its body's own calls present (`ctr:<id>:<secret>`), in its pool's workspace.
    let clientSecret = randomHex() + randomHex()
    var startupTimer: Scheduled<Void>?
    /// The running inputs' deadlines, under one timer (Scheduler+Timeouts.swift).
    var deadlines = InputDeadlines()
    /// Its process's exit status once reported (128 + n: killed by signal n; -1: it could not start).
    var exitStatus: Int32?
    /// The GPU devices of its host it was given (indices), taken from others until it ends.
    var gpuDevices: [Int] = []
    /// What a container of a worker host used, as its host last reported it (with its heartbeat).
    var reportedUsage: ContainerUsage?
    /// The kernel killed it for going over its memory limit (a boxed container's cgroup says so).
    var killedAtMemoryLimit = false
    /// The last lines it printed.
    let outputTail: OutputTail
    /// The inputs sent to it last, which the lines it prints name (Logs/).
    var recentInputs = RecentInputs()
    /// Its output read and not yet taken by the loop (Logs/).
    let pendingOutput = PendingOutput()
    /// Whether an input that crashed a container before runs on it: it then takes no other input.
    var runsSuspect = false

    /// Inputs it takes at once, and bodies it runs at once, as its function's options were when it started.
    let slots: Int
    let bodies: Int
    /// Each input's timeout there, as its function's options were when it started.
    let timeout: TimeAmount
    /// Its CPU and memory, as its function's options were when it started: what it holds of its host's capacity
    /// and the limit it was killed at, through a redefinition of the function too.
    let cpu: FunctionOptions.CPU
    let memory: FunctionOptions.Memory

    init(id: String, pool: FunctionPool, now: NIODeadline) {
        self.id = id
        self.pool = pool
        self.cpu = pool.definition.options.cpu
        self.memory = pool.definition.options.memory
        self.slots = pool.slotsPerContainer
        self.bodies = pool.bodiesPerContainer
        self.timeout = pool.timeout
        self.idleSince = now
        self.createdAt = now
        self.outputTail = OutputTail(
            linePrefix: ContainerSpec.outputPrefix(functionName: pool.name, containerID: id))
    }

    /// Its connection, once it has one.
    var channel: (any WirePeer)? {
        switch state {
        case .starting: nil
        case .serving(let channel): channel
        case .stopping(let connection): connection
        case .disconnected: nil
        }
    }

    var isStarting: Bool { if case .starting = state { true } else { false } }
    var isServing: Bool { if case .serving = state { true } else { false } }
    var isStopping: Bool { if case .stopping = state { true } else { false } }
    var isDisconnected: Bool { if case .disconnected = state { true } else { false } }

    /// What its exit status says, as an error message puts it.
    var exitDescription: String? {
        guard let status = exitStatus, status >= 0 else { return nil }
        if killedAtMemoryLimit {
            let limit = memory.limit.map { " of \($0) MiB" } ?? ""
            return "was killed for going over its memory limit\(limit)"
        }
        guard status > 128 else { return "exited with status \(status)" }
        let signal = status - 128
        let name = strsignal(signal).map { String(cString: $0) } ?? "signal \(signal)"
        return "was killed by signal \(signal) (\(name))"
    }

    /// It connected: serving, or (stopped while it started) stopping with its connection.
    func connected(_ channel: any WirePeer) {
        state = isStopping ? .stopping(connection: channel) : .serving(channel)
    }
}

func randomHex() -> String {
    String(UInt64.random(in: .min ... .max), radix: 16)
}
