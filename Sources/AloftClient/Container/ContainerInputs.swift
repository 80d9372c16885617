import AloftCore
import AloftWire
import Foundation
import Logging
import Synchronization

/// The inputs a container was sent: waiting for a slot, or running.
///
/// A slot is taken when an input starts and freed after its result is sent. Blocking bodies run on `maxInputs`
/// threads of the container's own (never the cooperative pool); async bodies run as tasks on its one async
/// executor thread, so nothing in them runs in parallel.
final class ContainerInputs: @unchecked Sendable {
    private let socket: BlockingWireSocket
    private let context: InputContext
    private let logger: Logger
    private let threads: WorkerThreads
    private let asyncExecutor = DedicatedThreadExecutor(name: "aloft-async-inputs")
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var waiting: [Aloft_V1_InputDispatch] = []
    /// When each waiting input arrived: a partial batch runs once its first input has waited the batch wait.
    private var arrivals: [UInt64: ContinuousClock.Instant] = [:]
    private var batchTimerSet = false
    private var running: [UInt64: @Sendable () -> Void] = [:]  // input id -> how to cancel it
    private var freeSlots: Int
    private var accepting = true

    /// Where the bodies' own calls go when that is not the process's control plane (an in-process container's).
    private let callerProvider: (any ControlPlaneProvider)?

    init(
        socket: BlockingWireSocket, context: InputContext, maxInputs: Int, logger: Logger,
        callerProvider: (any ControlPlaneProvider)? = nil
    ) {
        self.callerProvider = callerProvider
        self.socket = socket
        self.context = context
        self.logger = logger
        self.freeSlots = maxInputs
        self.threads = WorkerThreads(count: maxInputs)
    }

    func add(_ input: Aloft_V1_InputDispatch) {
        condition.lock()
        waiting.append(input)
        arrivals[input.inputID] = .now
        startWaiting()
        condition.unlock()
    }

    func cancel(_ inputIDs: [UInt64]) {
        condition.lock()
        var dropped: [UInt64] = []
        for id in inputIDs {
            if let position = waiting.firstIndex(where: { $0.inputID == id }) {
                waiting.remove(at: position)
                dropped.append(id)
            } else {
                running[id]?()
            }
        }
        condition.unlock()
        for id in dropped {  // never started: answer so that the control plane frees its place
            send(id, .failure(.cancelled, AloftError(.cancelled, "the input was cancelled before it started")))
        }
    }

    /// Waits until the running inputs have finished (and the waiting ones too, if `startingWaiting`), or until
    /// `within` has passed.
    func drain(startingWaiting: Bool, within limit: Duration?) {
        let deadline = limit.map { Date().addingTimeInterval($0.seconds) }
        condition.lock()
        accepting = accepting && startingWaiting  // a stop during a SIGTERM drain does not start queued inputs again
        while !running.isEmpty || (startingWaiting && !waiting.isEmpty) {
            if let deadline {
                guard condition.wait(until: deadline) else { break }
            } else {
                condition.wait()
            }
        }
        condition.unlock()
    }

    /// Starts waiting inputs (or batches of them) while there are free slots. Called with `condition` locked.
    private func startWaiting() {
        while accepting, freeSlots > 0, let first = waiting.first {
            if let function = ContainerFunctions.named(first.functionName), let batching = function.batching {
                guard startBatch(of: function, batching) else { return }
                continue
            }
            let input = waiting.removeFirst()
            arrivals[input.inputID] = nil
            freeSlots -= 1
            let id = input.inputID
            let socket = self.socket
            let emitItem: @Sendable (UInt64, Data) throws -> Void = { index, data in
                var item = Aloft_V1_GeneratorItem()
                item.inputID = id
                item.index = index
                item.data = data
                try socket.send(Aloft_V1_Envelope(requestID: 0, body: .generatorItem(item)))
            }
            let trace = TraceContext.carried(by: input)
            switch ContainerFunctions.prepare(input, context: context, emitItem: emitItem) {
            case .blocking(let work):
                let flag = CancellationFlag()
                running[id] = { flag.cancel() }
                threads.submit { [self] in
                    let result = asCaller(trace: trace) {
                        CancellationFlag.$current.withValue(flag) { RunningInput.$id.withValue(id) { work() } }
                    }
                    finished([(id, result)])
                }
            case .async(let work):
                let task = Task(executorPreference: asyncExecutor) { [self] in
                    let result = await asCallerAsync(trace: trace) {
                        await RunningInput.$id.withValue(id) { await work() }
                    }
                    finished([(id, result)])
                }
                running[id] = { task.cancel() }
            }
        }
    }

    /// Starts a batch of the inputs at the front of the queue if it is full or its first input has waited long
    /// enough; else arranges to look again then and returns false. Called with `condition` locked.
    private func startBatch(of function: any ContainerInvocable, _ batching: FunctionOptions.Batching) -> Bool {
        let sameFunction = waiting.prefix { $0.functionName == function.name }.prefix(batching.maxBatchSize)
        let waited = ContinuousClock.now - (arrivals[sameFunction.first!.inputID] ?? .now)
        if sameFunction.count < batching.maxBatchSize && waited < batching.wait && accepting {
            if !batchTimerSet {
                batchTimerSet = true
                let delay = batching.wait - waited
                DispatchQueue.global().asyncAfter(
                    deadline: .now() + .nanoseconds(Int(delay.wholeNanoseconds))
                ) { [self] in
                    condition.lock()
                    batchTimerSet = false
                    startWaiting()
                    condition.unlock()
                }
            }
            return false
        }
        let batch = Array(sameFunction)
        waiting.removeFirst(batch.count)
        for input in batch { arrivals[input.inputID] = nil }
        freeSlots -= 1
        let ids = batch.map(\.inputID)
        // A batch's calls continue the trace of its first input.
        let trace = TraceContext.carried(by: batch[0])
        switch function.prepareBatch(batch.map(\.data), context: context) {
        case .blocking(let work):
            let flag = CancellationFlag()
            for id in ids { running[id] = { flag.cancel() } }
            threads.submit { [self] in
                let results = asCaller(trace: trace) { CancellationFlag.$current.withValue(flag) { work() } }
                finished(Array(zip(ids, results)))
            }
        case .async(let work):
            let task = Task(executorPreference: asyncExecutor) { [self] in
                finished(Array(zip(ids, await asCallerAsync(trace: trace) { await work() })))
            }
            for id in ids { running[id] = { task.cancel() } }
        }
        return true
    }

    /// Runs a body with its own calls going to `callerProvider`, if there is one (a container process has none,
    /// and pays nothing for it), and continuing its input's trace, if it came with one.
    private func asCaller<T>(trace: [String: String], _ body: () -> T) -> T {
        guard trace.isEmpty else {
            return TraceContext.$inherited.withValue(trace) { asCaller(trace: [:], body) }
        }
        guard let callerProvider else { return body() }
        return AloftRuntime.$providerOverride.withValue(callerProvider) { body() }
    }

    private func asCallerAsync<T>(trace: [String: String], _ body: () async -> T) async -> T {
        guard trace.isEmpty else {
            return await TraceContext.$inherited.withValue(trace) { await asCallerAsync(trace: [:], body) }
        }
        guard let callerProvider else { return await body() }
        return await AloftRuntime.$providerOverride.withValue(callerProvider) { await body() }
    }

    /// One body finished: send each input's result and free its slot.
    private func finished(_ results: [(UInt64, Aloft_V1_Result)]) {
        for (id, result) in results { send(id, result) }
        condition.lock()
        for (id, _) in results { running[id] = nil }
        freeSlots += 1
        startWaiting()
        condition.broadcast()
        condition.unlock()
    }

    private func send(_ id: UInt64, _ result: Aloft_V1_Result) {
        var output = Aloft_V1_OutputPut()
        output.inputID = id
        output.result = result
        do { try socket.send(Aloft_V1_Envelope(requestID: 0, body: .outputPut(output))) } catch {
            // The control plane is gone (the main thread sees it too and drains): the result has nowhere to go.
            logger.warning("could not send a result to the control plane", metadata: ["aloft.error": "\(error)"])
        }
    }
}

/// Set when the call of the input a blocking body is running was cancelled.
final class CancellationFlag: Sendable {
    @TaskLocal static var current: CancellationFlag?
    private let cancelled = Atomic(false)
    func cancel() { cancelled.store(true, ordering: .relaxed) }
    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
}

/// The input that the current function body is running, as its container sees it.
public enum AloftInput {
    /// True once the call of this input was cancelled (`FunctionCall.cancel()`, or the caller's task was
    /// cancelled). A blocking body should check it in long work and return or throw; an async body is also
    /// cancelled as a task, so `Task.isCancelled` and `Task.checkCancellation()` work there too. A body that does
    /// not stop within the control plane's cancellation grace has its container stopped.
    public static var isCancelled: Bool {
        (CancellationFlag.current?.isCancelled ?? false) || Task.isCancelled
    }

    /// Throws `CancellationError` once the input's call was cancelled.
    public static func checkCancellation() throws {
        if isCancelled { throw CancellationError() }
    }
}

/// A fixed pool of threads for the blocking bodies of a container's concurrent inputs: never the cooperative pool.
final class WorkerThreads: @unchecked Sendable {
    private let condition = NSCondition()
    private var work: [@Sendable () -> Void] = []

    private let count: Int
    private var started = 0  // threads start on first use: an async function's container needs none
    private var busy = 0

    init(count: Int) {
        self.count = count
    }

    func submit(_ item: @escaping @Sendable () -> Void) {
        condition.lock()
        work.append(item)
        if started < count && started < work.count + busy {
            started += 1
            // The threads keep their pool alive: an in-process container (AloftTesting) may end while they wait.
            let thread = Thread { [self] in self.runWork() }
            thread.name = "aloft-input-\(started)"
            thread.start()
        }
        condition.unlock()
        // After the unlock: a thread woken while the lock is still held would wake only to wait for it (two more
        // futex calls per input).
        condition.signal()
    }

    private func runWork() {
        while true {
            condition.lock()
            while work.isEmpty { condition.wait() }
            let item = work.removeFirst()
            busy += 1
            condition.unlock()
            item()
            condition.lock()
            busy -= 1
            condition.unlock()
        }
    }
}
