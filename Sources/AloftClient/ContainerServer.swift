#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import AloftCore
import AloftWire
import Foundation
import Logging
import Synchronization

/// Makes stdout flush at each newline even when it is a pipe.
func lineBufferStandardOutput() {
    setvbuf(stdout, nil, _IOLBF, 0)
}

/// What a container needs to run an input.
struct InputContext: Sendable {
    let containerID: String
    let maxPayloadBytes: Int
}

/// One input, decoded and ready to run: on a thread (blocking body) or as a task (async body).
enum PreparedInput: Sendable {
    case blocking(@Sendable () -> Aloft_V1_Result)
    case async(@Sendable () async -> Aloft_V1_Result)
}

/// A whole batch of a batched function, ready to run; one result per input, in order.
enum PreparedBatch: Sendable {
    case blocking(@Sendable () -> [Aloft_V1_Result])
    case async(@Sendable () async -> [Aloft_V1_Result])
}

/// A function as a container runs it: bytes in, a wire result out.
protocol ContainerInvocable: Sendable {
    var name: String { get }
    /// Set for a batched function: its inputs are run in batches by `prepareBatch`.
    var batching: FunctionOptions.Batching? { get }
    func prepareBatch(_ data: [Data], context: InputContext) -> PreparedBatch
    /// - Parameter emitItem: sends one item of a generator (its number, its encoding); other functions ignore it.
    func prepare(
        _ data: Data, context: InputContext, emitItem: @escaping @Sendable (UInt64, Data) throws -> Void
    ) -> PreparedInput
}

extension Function: ContainerInvocable {
    var batching: FunctionOptions.Batching? { batchBody == nil ? nil : options.batching }

    func prepareBatch(_ data: [Data], context: InputContext) -> PreparedBatch {
        let all = { (result: Aloft_V1_Result) -> PreparedBatch in
            .blocking { Array(repeating: result, count: data.count) }
        }
        var decoded: [Input] = []
        for (position, item) in data.enumerated() {
            do { decoded.append(try PayloadCodec.decode(Input.self, from: item)) } catch {
                return all(
                    failure(
                        AloftError(
                            .invalidArgument,
                            "could not decode input \(position) of a batch of '\(name)' as \(Input.self): \(error)"),
                        context))
            }
        }
        let inputs = decoded
        guard let batchBody else {
            return all(failure(AloftError(.notFound, "'\(name)' is not a batched function here"), context))
        }
        let check = { @Sendable [name] (outputs: [Output]) throws -> [Output] in
            guard outputs.count == inputs.count else {
                throw AloftError(
                    .invalidArgument,
                    "batched function '\(name)' returned \(outputs.count) results for a batch of \(inputs.count) inputs"
                )
            }
            return outputs
        }
        switch batchBody {
        case .blocking(let run):
            return .blocking {
                do { return try check(try run(inputs)).map { self.encode($0, context) } } catch {
                    return Array(repeating: self.failure(error, context), count: inputs.count)
                }
            }
        case .async(let run):
            return .async {
                do { return try check(try await run(inputs)).map { self.encode($0, context) } } catch {
                    return Array(repeating: self.failure(error, context), count: inputs.count)
                }
            }
        }
    }

    func prepare(
        _ data: Data, context: InputContext, emitItem: @escaping @Sendable (UInt64, Data) throws -> Void
    ) -> PreparedInput {
        let input: Input
        do {
            input = try PayloadCodec.decode(Input.self, from: data)
        } catch {
            let result = failure(
                AloftError(.invalidArgument, "could not decode the argument of '\(name)' as \(Input.self): \(error)"),
                context)
            return .blocking { result }
        }
        switch body {
        case .blocking(let run):
            return .blocking { self.result({ try run(input) }, context) }
        case .async(let run):
            return .async { await self.result(asyncBody: { try await run(input) }, context) }
        case nil:
            let result = failure(
                AloftError(.notFound, "'\(name)' is only looked up in this executable, not defined"), context)
            return .blocking { result }
        }
    }

    private func result(_ body: () throws -> Output, _ context: InputContext) -> Aloft_V1_Result {
        do { return encode(try body(), context) } catch { return failure(error, context) }
    }

    private func result(asyncBody body: () async throws -> Output, _ context: InputContext) async -> Aloft_V1_Result {
        do { return encode(try await body(), context) } catch { return failure(error, context) }
    }

    func encode(_ output: Output, _ context: InputContext) -> Aloft_V1_Result {
        do {
            let data = try PayloadCodec.encode(output)
            try PayloadCodec.checkSize(data, limit: context.maxPayloadBytes, what: "result of '\(name)'")
            return .success(Array(data))
        } catch {
            return failure(
                error as? AloftError
                    ?? AloftError(.invalidArgument, "could not encode the result of '\(name)': \(error)"), context)
        }
    }

    func failure(_ error: any Error, _ context: InputContext) -> Aloft_V1_Result {
        if let error = error as? AloftError {
            var remote = Aloft_V1_RemoteError(error)
            if error.remote == nil {  // an Aloft failure of this body (a nested call's keeps its origin)
                remote.functionName = name
                remote.containerID = context.containerID
                remote.typeName = String(reflecting: AloftError.self)
            }
            return .failure(.failure, remote)
        }
        var remote = Aloft_V1_RemoteError()
        remote.code = AloftError.Code.remoteError.rawValue
        remote.typeName = String(reflecting: type(of: error))
        remote.message = String(describing: error)
        remote.functionName = name
        remote.containerID = context.containerID
        if let (typeName, data) = ErrorRegistry.encode(error) {
            remote.typeName = typeName
            remote.encodedError = data
        }
        return .failure(.failure, remote)
    }
}

/// Every function declared in this executable, by name: what a container serves.
enum ContainerFunctions {
    private static let functions = Mutex<[String: any ContainerInvocable]>([:])

    static func register(_ function: some ContainerInvocable) {
        let previous = functions.withLock { $0.updateValue(function, forKey: function.name) }
        if previous != nil {
            AloftRuntime.shared.logger.warning(
                "function declared twice; the last declaration wins", metadata: ["aloft.function": "\(function.name)"])
        }
    }

    static func named(_ name: String) -> (any ContainerInvocable)? {
        functions.withLock { $0[name] }
    }
}

/// The container side: receive inputs, run them, send results, until told to stop.
///
/// The main thread only reads the socket (blocking calls), so that a cancellation or a stop reaches the container
/// while inputs run; `ContainerInputs` runs them, up to `maxInputs` at once.
enum ContainerServer {
    static func run(containerID: String) -> Never {
        lineBufferStandardOutput()  // the control plane forwards our output line by line
        let logger = {
            var logger = AloftRuntime.shared.logger
            logger[metadataKey: "aloft.container_id"] = "\(containerID)"
            return logger
        }()
        let environment = ProcessInfo.processInfo.environment
        let address = environment[AloftEnvironment.controlPlaneAddress] ?? ""
        // A container of a class constructs its instance and runs `enter` before it connects: a failure here is a
        // failed start, which the control plane reports after three in a row.
        if let className = environment[AloftEnvironment.className], !className.isEmpty {
            let parameters = Data(base64Encoded: environment[AloftEnvironment.classParameters] ?? "") ?? Data()
            do {
                try AloftRuntime.shared.runBlocking(asyncForm: "", runsUserCode: true) {
                    try await ClassInstances.constructContainerInstance(className: className, parameters: parameters)
                }
            } catch {
                FileHandle.standardError.write(
                    Data("aloft container \(containerID): enter of class \(className) failed: \(error)\n".utf8))
                exit(1)
            }
        }
        let socket: BlockingWireSocket
        let context: InputContext
        let maxInputs: Int
        do {
            socket = try BlockingWireSocket(address: address)
            let hello = Aloft_V1_Hello(role: .container, containerID: containerID)
            try socket.send(Aloft_V1_Envelope(requestID: 1, body: .hello(hello)))
            switch try socket.receive()?.replyBody() {
            case .helloReply(let reply):
                context = InputContext(containerID: containerID, maxPayloadBytes: Int(reply.maxPayloadBytes))
                maxInputs = max(1, Int(reply.maxInputs))
            default: throw AloftError(.protocolError, "the control plane at \(address) did not answer hello")
            }
        } catch {
            FileHandle.standardError.write(Data("aloft container \(containerID): \(error)\n".utf8))
            exit(1)
        }
        logger.debug("container serving", metadata: ["aloft.max_inputs": "\(maxInputs)"])
        let inputs = ContainerInputs(socket: socket, context: context, maxInputs: maxInputs, logger: logger)
        // SIGTERM (a worker or the control plane stopping it, or a user): start nothing new, let the running inputs
        // finish within the exit grace, exit 0. Inputs it was sent but had not started run again elsewhere.
        signal(SIGTERM, SIG_IGN)
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        terminate.setEventHandler {
            logger.info("SIGTERM: finishing running inputs, then exiting")
            stop(inputs, startingWaiting: false, within: .seconds(30))
        }
        terminate.resume()
        // The main thread only reads, so that a cancellation reaches an input while it runs.
        while true {
            let envelope: Aloft_V1_Envelope?
            do { envelope = try socket.receive() } catch {
                logger.error("reading from the control plane failed", metadata: ["aloft.error": "\(error)"])
                exit(1)
            }
            switch envelope?.body {
            case .inputDispatch(let input): inputs.add(input)
            case .inputCancel(let cancel): inputs.cancel(cancel.inputIds)
            case .containerStop?:
                // Stopping: the inputs it was sent finish and send their results (the control plane kills the
                // container if that takes longer than its grace), then the container exits.
                logger.debug("container stopping")
                stop(inputs, startingWaiting: true, within: nil)
            case nil:
                // The control plane went away: what runs may finish (its results have nowhere to go), within the
                // exit grace, so that no container outlives its control plane for long.
                stop(inputs, startingWaiting: false, within: .seconds(30))
            default: continue
            }
        }
    }

    private static let stopping = Atomic(false)

    /// Drains the inputs, runs the class's `exit` hook (if this is a class's container), and exits 0. Only the first
    /// caller (SIGTERM handler or main thread) does it; a second one waits for the process to end.
    static func stop(_ inputs: ContainerInputs, startingWaiting: Bool, within limit: Duration?) -> Never {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else {
            while true { sleep(3600) }
        }
        inputs.drain(startingWaiting: startingWaiting, within: limit)
        _ = try? AloftRuntime.shared.runBlocking(asyncForm: "", runsUserCode: true) {
            await ClassInstances.exitContainerInstance()
        }
        exit(0)
    }

    static func function(named name: String) -> (any ContainerInvocable)? {
        ContainerFunctions.named(name)
    }

    static func prepare(
        _ input: Aloft_V1_InputDispatch, context: InputContext,
        emitItem: @escaping @Sendable (UInt64, Data) throws -> Void
    ) -> PreparedInput {
        guard let function = function(named: input.functionName) else {
            let executable = CommandLine.arguments.first ?? "this executable"
            let result = Aloft_V1_Result.failure(
                .failure,
                AloftError(
                    .notFound,
                    """
                    function '\(input.functionName)' is not declared in \(executable): declare every function at the top level \
                    of main.swift, before app.main()
                    """))
            return .blocking { result }
        }
        return function.prepare(input.data, context: context, emitItem: emitItem)
    }
}

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

    init(socket: BlockingWireSocket, context: InputContext, maxInputs: Int, logger: Logger) {
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
            if let function = ContainerServer.function(named: first.functionName), let batching = function.batching {
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
            switch ContainerServer.prepare(input, context: context, emitItem: emitItem) {
            case .blocking(let work):
                let flag = CancellationFlag()
                running[id] = { flag.cancel() }
                threads.submit { [self] in
                    let result = CancellationFlag.$current.withValue(flag) { work() }
                    finished([(id, result)])
                }
            case .async(let work):
                let task = Task(executorPreference: asyncExecutor) { [self] in
                    finished([(id, await work())])
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
        switch function.prepareBatch(batch.map(\.data), context: context) {
        case .blocking(let work):
            let flag = CancellationFlag()
            for id in ids { running[id] = { flag.cancel() } }
            threads.submit { [self] in
                let results = CancellationFlag.$current.withValue(flag) { work() }
                finished(Array(zip(ids, results)))
            }
        case .async(let work):
            let task = Task(executorPreference: asyncExecutor) { [self] in
                finished(Array(zip(ids, await work())))
            }
            for id in ids { running[id] = { task.cancel() } }
        }
        return true
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
            let thread = Thread { [unowned self] in self.runWork() }
            thread.name = "aloft-input-\(started)"
            thread.start()
        }
        condition.signal()
        condition.unlock()
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
