import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
import Synchronization

/// The scheduler: functions, their containers, backlogs and calls.
///
/// One coordinator owns every table and runs on `loop`, the control plane's single event loop, so no state here
/// needs a lock; every entry point from outside the loop hops onto it first. Its concerns live in files of their
/// own (`Scheduler+<Concern>.swift`), its state machines and tables in types of their own:
///
/// - routing of each connection's messages: `Scheduler+Routing`, `Scheduler+Hello`
/// - outbound frames and store changes, batched per loop turn: `OutboundFrames`, `StoreBatch`, `Scheduler+Turn`
/// - functions and their pools: `FunctionRegistry`, `Scheduler+Registration`, `Scheduler+Deployments`
/// - calls, their results and waiters: `Scheduler+Calls`; in-process callers: `Scheduler+LocalCalls`
/// - inputs through their attempts (retries, timeouts, cancellation): `Scheduler+Inputs`; what they hold in
///   memory, against `InputLimits`: `HeldInputs`
/// - how many containers a pool wants: `Autoscaler` (pure); who gets the backlog: `Scheduler+Dispatch`
/// - worker hosts: `Scheduler+Workers`
/// - containers from start to serving: `Scheduler+Containers`; how they end: `Scheduler+ContainerEnds`
/// - container output to followers: `LogFollowers`; the reaper and shutdown: `Scheduler+Lifecycle`
/// - connections from arrival to close (caps, idle timeout): `Scheduler+Connections`, `ConnectionLimits`
/// - connections let in by a token, checked again: `Scheduler+TokenSessions`
/// - rooms of their own: named secrets (Secrets/), dicts (Dicts/), queues (Queues/), schedules (Schedules/),
///   container output kept and followed (Logs/), calls' spans (Tracing/)
final class Scheduler: @unchecked Sendable {
    let loop: any EventLoop
    let configuration: ControlPlaneConfiguration
    /// Records calls' spans (Tracing/); nil when there is no tracer.
    let tracing: CallTracing?
    let logger: Logger
    /// The address containers dial (`unix:/path` or `host:port`); set once the listeners are bound.
    var address = ""

    var registry = FunctionRegistry()
    var containers: [String: ContainerRecord] = [:]
    /// Inputs by their current attempt's id.
    var inputs: [UInt64: InputRecord] = [:]
    /// Calls with inputs of their own, by id.
    var calls: [String: CallRecord] = [:]
    /// `.remote` calls that named a call id, so that they can be cancelled.
    var invocations: [String: InputRecord] = [:]
    /// What unanswered inputs hold, against `configuration.inputLimits`.
    var held = HeldInputs()
    var workers = WorkerHosts()
    var sessions: TokenSessions
    /// Every open connection, so that a stopped control plane closes them (a shared event loop outlives it).
    var connections: [ObjectIdentifier: OpenConnection] = [:]
    /// Named secrets, per workspace (Secrets/).
    var secrets = NamedSecrets()
    /// Dicts, named and ephemeral (Dicts/).
    var dicts = Dicts()
    /// Queues, named and ephemeral (Queues/).
    var queues = Queues()
    /// Deployed functions' schedules and their timers (Schedules/).
    var schedules = Schedules()
    /// The wall clock schedules read (tests move it with the loop's clock).
    var wallClock: @Sendable () -> Date = { Date() }
    /// Peers' connections not welcomed yet, against `ConnectionLimits.unwelcomedPerPeer`.
    var unwelcomedPeers: PeerCounts
    /// What peers not welcomed did, by kind, for rate-limited logging.
    var unwelcomedLog: [String: RefusalLog] = [:]
    var lastIdleCheck: NIODeadline
    /// The latest calls of each workspace, for the dashboard (Dashboard/).
    var recentCalls = RecentCalls()
    /// The control plane's own metrics (Metrics/).
    let metrics = ControlPlaneMetrics()
    var logFollowers = LogFollowers()
    /// What containers print, numbered and kept (Logs/).
    let logs: LogBook

    let outbound = OutboundFrames()
    var storeBatch = StoreBatch()
    var turnEndScheduled = false
    var lifecycle = Lifecycle.running(reaper: nil)
    /// Set before the loop shuts down: process exits reported after that are dropped.
    let loopClosing = Atomic<Bool>(false)
    var lastExpiry: NIODeadline
    private var nextID: UInt64 = 1

    /// Where the scheduler is in its life.
    enum Lifecycle {
        case running(reaper: RepeatedTask?)
        /// Stopping its containers; the promise completes once they are gone.
        case stopping(EventLoopPromise<Void>)
        case stopped(EventLoopFuture<Void>)
    }

    init(loop: any EventLoop, configuration: ControlPlaneConfiguration, logger: Logger, logs: LogBook? = nil) {
        self.loop = loop
        self.logs = logs ?? LogBook(store: configuration.logStore, logger: logger)
        self.configuration = configuration
        self.tracing = CallTracing(configured: configuration.tracer, loop: loop)
        self.logger = logger
        self.lastExpiry = loop.now
        self.lastIdleCheck = loop.now
        self.unwelcomedPeers = PeerCounts(limit: configuration.connectionLimits.unwelcomedPerPeer)
        self.sessions = TokenSessions(lastCheck: loop.now)
    }

    func makeID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    /// Ids restored from the store are never handed out again.
    func reserveIDs(upTo id: UInt64) {
        nextID = max(nextID, id + 1)
    }

    var isRunning: Bool { if case .running = lifecycle { true } else { false } }
}
