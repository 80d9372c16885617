import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
import SwiftProtobuf
import Synchronization

/// The scheduler: functions, their containers, backlogs and calls.
///
/// Every method runs on `loop`, the control plane's single event loop, so no state here needs a lock.
final class ControlPlaneState: @unchecked Sendable {
    let loop: any EventLoop
    let configuration: ControlPlaneConfiguration
    let logger: Logger
    /// The address containers dial (`unix:/path` or `host:port`); set once the listeners are bound.
    var address = ""

    /// Registered functions by id: the pool that runs each, and its name (a class method's pools are shared).
    var functions: [UInt64: (pool: FunctionPool, name: String)] = [:]
    var poolsByKey: [String: FunctionPool] = [:]
    var functionIDs: [String: UInt64] = [:]
    var containers: [String: ContainerRecord] = [:]
    /// Connected worker hosts, by their connection.
    var workers: [ObjectIdentifier: WorkerRecord] = [:]
    /// Pools that found no room for a container: scheduled again when a worker host joins or a container on one ends.
    var waitingForRoom: [ObjectIdentifier: FunctionPool] = [:]
    /// Clients following the output of an app's containers (`aloft run`), by `workspace/app`.
    private var logFollowers: [String: [ObjectIdentifier: any Channel]] = [:]
    /// Whether anyone follows container output: read off the loop, so that output nobody follows is not hopped here.
    private let hasLogFollowers = Atomic<Bool>(false)
    var inputs: [UInt64: InputRecord] = [:]
    private var calls: [String: CallRecord] = [:]
    /// `.remote` calls that named a call id, so that they can be cancelled.
    private var invocations: [String: InputRecord] = [:]
    private var nextID: UInt64 = 1
    private var channelsToFlush: [ObjectIdentifier: any Channel] = [:]
    /// Outputs of map calls gathered while handling events, sent as one `CallOutputs` per call at the flush.
    private var outputsToPush: [String: (call: CallRecord, outputs: [Aloft_V1_Output])] = [:]
    private var flushScheduled = false
    private var reaper: RepeatedTask?
    private var shutdownPromise: EventLoopPromise<Void>?
    private var shutdownFinished = false
    /// Set before the loop shuts down: process exits reported after that are dropped.
    let loopClosing = Atomic<Bool>(false)

    // The store: changes made while handling events are written as one batch per loop turn, one batch at a time;
    // what must wait for its batch (the acknowledgement of a spawn) runs after it.
    private var storeChanges: [StoreChange] = []
    private var afterStored: [@Sendable (Result<Void, any Error>) -> Void] = []
    private var storeWriting = false
    private var lastExpiry = NIODeadline.now()

    init(loop: any EventLoop, configuration: ControlPlaneConfiguration, logger: Logger) {
        self.loop = loop
        self.configuration = configuration
        self.logger = logger
    }

    func makeID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    // MARK: Writing

    /// Queues a frame; all frames queued while handling one event go out in one flush.
    func send(_ body: Aloft_V1_Envelope.OneOf_Body, requestID: UInt64 = 0, on channel: any Channel) {
        channel.write(Aloft_V1_Envelope(requestID: requestID, body: body), promise: nil)
        channelsToFlush[ObjectIdentifier(channel)] = channel
        scheduleFlush()
    }

    private func scheduleFlush() {
        if !flushScheduled {
            flushScheduled = true
            loop.execute { self.flushAll() }
        }
    }

    private func flushAll() {
        writeToStore()
        let pushes = outputsToPush
        outputsToPush.removeAll(keepingCapacity: true)
        for (callID, push) in pushes {
            guard let subscriber = push.call.subscriber else { continue }
            var outputs = Aloft_V1_CallOutputs()
            outputs.callID = callID
            outputs.outputs = push.outputs
            subscriber.write(Aloft_V1_Envelope(requestID: 0, body: .callOutputs(outputs)), promise: nil)
            channelsToFlush[ObjectIdentifier(subscriber)] = subscriber
        }
        flushScheduled = false
        let channels = channelsToFlush
        channelsToFlush.removeAll(keepingCapacity: true)
        for channel in channels.values { channel.flush() }
    }

    // MARK: The store

    /// Queues a change for the store, if there is one.
    func record(_ change: StoreChange) {
        guard configuration.store != nil else { return }
        storeChanges.append(change)
        scheduleFlush()
    }

    /// Runs `action` once every change recorded so far is stored (at once when there is no store).
    func whenStored(_ action: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard configuration.store != nil, storeWriting || !storeChanges.isEmpty else {
            action(.success(()))
            return
        }
        afterStored.append(action)
        scheduleFlush()
    }

    private func writeToStore() {
        guard let store = configuration.store, !storeWriting, !storeChanges.isEmpty || !afterStored.isEmpty else { return }
        let batch = storeChanges
        let waiting = afterStored
        storeChanges.removeAll()
        afterStored.removeAll()
        storeWriting = true
        let written = loop.makePromise(of: Void.self)
        written.completeWithTask { try await store.apply(batch) }
        written.futureResult.whenComplete { [self] result in
            storeWriting = false
            if case .failure(let error) = result {
                logger.error("the store failed to apply a batch", metadata: ["aloft.changes": "\(batch.count)", "aloft.error": "\(error)"])
            }
            for action in waiting { action(result) }
            if !storeChanges.isEmpty || !afterStored.isEmpty { scheduleFlush() }
        }
    }

    /// Succeeds once everything recorded so far is stored.
    func storeDrained() -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        whenStored { _ in promise.succeed() }
        return promise.futureResult
    }

    /// Whether calls of this kind are kept in the store: spawned calls (their results are fetched by id later) and
    /// detached ones (`spawnMap`). A map's or generator's results stream to a caller that is connected now.
    private func isStored(_ kind: Aloft_V1_CallKind) -> Bool {
        configuration.store != nil && (kind == .spawn || kind == .detached)
    }

    private var resultExpiry: Date { Date().addingTimeInterval(Double(configuration.resultRetention.components.seconds)) }

    /// Resumes from what the store kept: functions, and the inputs of accepted calls that had not finished.
    func restore(_ stored: StoredState) {
        guard configuration.store != nil else { return }
        nextID = max(nextID, (stored.functions.map(\.id).max() ?? 0) + 1)
        for function in stored.functions {
            guard let registration = try? Aloft_V1_FunctionRegister(serializedBytes: function.registration) else {
                logger.error("a stored function could not be decoded; skipped", metadata: ["aloft.function": "\(function.key)"])
                continue
            }
            _ = register(registration, workspace: function.workspace, functionID: function.id, persist: false)
        }
        var resumed = 0
        for (stored, storedInputs) in stored.unfinishedCalls {
            guard let (pool, functionName) = functions[stored.functionID], pool.workspace == stored.workspace,
                  let kind = Aloft_V1_CallKind(rawValue: stored.kind), calls[stored.id] == nil else { continue }
            let call = CallRecord(id: stored.id, kind: kind, pool: pool, functionName: functionName)
            calls[call.id] = call
            for input in storedInputs {
                var wire = Aloft_V1_Input()
                wire.index = input.index
                wire.data = input.data
                addInput(wire, to: call)
            }
            // Its caller's connection did not survive the restart, so no more inputs can come.
            call.inputsClosed = true
            resumed += storedInputs.count
            forgetIfFinished(call)
        }
        logger.info("resumed from the store", metadata: [
            "aloft.functions": "\(stored.functions.count)", "aloft.calls": "\(stored.unfinishedCalls.count)", "aloft.inputs": "\(resumed)",
        ])
        for pool in poolsByKey.values { schedule(pool) }
    }

    func sendError(_ code: AloftError.Code, _ message: String, requestID: UInt64, on channel: any Channel) {
        var error = Aloft_V1_ErrorReply()
        error.code = code.rawValue
        error.message = message
        send(.error(error), requestID: requestID, on: channel)
    }

    // MARK: Requests

    func handle(_ envelope: Aloft_V1_Envelope, from connection: ConnectionHandler, channel: any Channel) {
        let requestID = envelope.requestID
        if connection.role == .worker {
            workerHeartbeat(from: channel)  // any message shows it is alive (output may queue ahead of a heartbeat)
            // A worker token admits a host to run containers, not to call functions or read calls.
            switch envelope.body {
            case .workerRegister, .workerHeartbeat, .containerExited, .containerOutput: break
            default:
                sendError(.protocolError, "a worker host sends only worker messages", requestID: requestID, on: channel)
                return
            }
        }
        switch envelope.body {
        case .hello(let hello):
            guard hello.protocolVersion == AloftLimits.protocolVersion else {
                sendError(.protocolError, "this control plane speaks protocol version \(AloftLimits.protocolVersion), the peer \(hello.protocolVersion)",
                          requestID: requestID, on: channel)
                channel.flush()  // the error must go out before the close
                channel.close(promise: nil)
                return
            }
            guard !connection.saidHello else {
                sendError(.protocolError, "hello was already sent on this connection", requestID: requestID, on: channel)
                return
            }
            connection.saidHello = true
            if hello.role == .container {
                guard isExpectedContainer(hello.containerID, channel: channel) else { return }
                connection.containerID = hello.containerID
            } else if configuration.authenticator != nil {
                authenticate(hello, requestID: requestID, connection: connection, channel: channel)
                return
            }
            welcome(hello, requestID: requestID, connection: connection, channel: channel)

        case .functionLookup(let lookup):
            do {
                var reply = Aloft_V1_FunctionRegistered()
                reply.functionID = try namedFunction(workspace: connection.workspace, app: lookup.appName, function: lookup.functionName).id
                send(.functionRegistered(reply), requestID: requestID, on: channel)
            } catch {
                sendError(error.code, error.message, requestID: requestID, on: channel)
            }

        case .workerRegister(let register):
            workerRegistered(register, connection: connection, channel: channel, requestID: requestID)

        case .workerHeartbeat:
            break  // every worker message counts as one (above)

        case .containerExited(let exited):
            workerReportedExit(exited, from: channel)

        case .containerOutput(let output):
            // Only for a container on this worker host: one host cannot speak for another's containers.
            guard connection.role == .worker, let container = containers[output.containerID],
                  container.worker?.channel === channel else { return }
            containerPrinted(output)

        case .logsFollow(let follow):
            guard connection.role == .client else {
                sendError(.protocolError, "only a client follows container output", requestID: requestID, on: channel)
                return
            }
            logFollowers[Self.poolKey(workspace: connection.workspace, app: follow.appName, pool: ""), default: [:]][ObjectIdentifier(channel)] = channel
            hasLogFollowers.store(true, ordering: .relaxed)
            send(.ack(.init()), requestID: requestID, on: channel)

        case .functionRegister(let register):
            var reply = Aloft_V1_FunctionRegistered()
            reply.functionID = self.register(register, workspace: connection.workspace, functionID: nil, persist: true)
            send(.functionRegistered(reply), requestID: requestID, on: channel)

        case .functionInvoke(let invoke):
            guard let (pool, functionName) = function(invoke.functionID, in: connection.workspace) else {
                sendError(.notFound, "no function with id \(invoke.functionID) is registered", requestID: requestID, on: channel)
                return
            }
            guard checkPayload(invoke.data.count, requestID: requestID, channel: channel) else { return }
            let input = InputRecord(id: makeID(), pool: pool, functionName: functionName, index: 0, data: invoke.data,
                                    owner: .invoke(channel: channel, requestID: requestID, callID: invoke.callID))
            if !invoke.callID.isEmpty { invocations[invoke.callID] = input }
            enqueue(input)
            schedule(pool)

        case .functionGetStats(let request):
            guard let (pool, _) = function(request.functionID, in: connection.workspace) else {
                sendError(.notFound, "no function with id \(request.functionID) is registered", requestID: requestID, on: channel)
                return
            }
            var stats = Aloft_V1_FunctionStats()
            stats.backlog = UInt64(pool.pending.count { inputs[$0].map { !$0.resolved } ?? false })
                + UInt64(pool.containers.values.reduce(0) { $0 + max(0, $1.assigned.count - $1.slots) })
            stats.runningInputs = UInt64(pool.containers.values.reduce(0) { $0 + min($1.assigned.count, $1.slots) })
            stats.containers = UInt64(pool.containers.values.count { !$0.stopping })
            send(.functionStats(stats), requestID: requestID, on: channel)

        case .callCreate(let create):
            guard let (pool, functionName) = function(create.functionID, in: connection.workspace) else {
                sendError(.notFound, "no function with id \(create.functionID) is registered", requestID: requestID, on: channel)
                return
            }
            for input in create.inputs {
                guard checkPayload(input.data.count, requestID: requestID, channel: channel) else { return }
            }
            guard create.callID.hasPrefix("fc-"), calls[create.callID] == nil else {
                sendError(.protocolError, "call id '\(create.callID)' is malformed or already in use", requestID: requestID, on: channel)
                return
            }
            let subscriber = create.kind == .map || create.kind == .generator ? channel : nil
            createCall(id: create.callID, kind: create.kind, functionID: create.functionID, pool: pool, functionName: functionName,
                       inputs: create.inputs, last: create.last, subscriber: subscriber) { [self] accepted in
                acknowledge(accepted, requestID: requestID, channel: channel)
            }

        case .callPutInputs(let put):
            guard let call = call(put.callID, in: connection.workspace) else {
                sendError(.notFound, "no call with id \(put.callID)", requestID: requestID, on: channel)
                return
            }
            putInputs(put, into: call, requestID: requestID, channel: channel)

        case .callGet(let get):
            let respond: @Sendable (Aloft_V1_Result?) -> Void = { [self] result in
                var reply = Aloft_V1_CallGetResult()
                if let result {
                    reply.ready = true
                    reply.result = result
                }
                send(.callGetResult(reply), requestID: requestID, on: channel)
            }
            answerGet(callID: get.callID, index: get.index, workspace: connection.workspace, timeoutMs: get.timeoutMs,
                      waiting: ObjectIdentifier(channel), respond: respond) { [self] error in
                sendError(error.code, error.message, requestID: requestID, on: channel)
            }

        case .callCancel(let cancel):
            if let call = call(cancel.callID, in: connection.workspace) {
                cancelCall(call)
            } else if let input = invocations[cancel.callID], input.pool.workspace == connection.workspace {
                cancelInput(input, message: "call \(cancel.callID) was cancelled")
            } else {
                // A cancel pushed after its call finished is not an error worth a reply.
                if requestID != 0 { sendError(.notFound, "no call with id \(cancel.callID)", requestID: requestID, on: channel) }
                return
            }
            if requestID != 0 { send(.ack(.init()), requestID: requestID, on: channel) }

        case .outputPut(let output):
            outputArrived(output, from: connection.containerID)

        case .generatorItem(let item):
            guard let input = inputs[item.inputID], !input.resolved, case .call(let call) = input.owner, call.subscriber != nil else { return }
            var output = Aloft_V1_Output()
            output.index = item.index
            output.result = .success(Array(item.data))
            outputsToPush[call.id, default: (call, [])].outputs.append(output)
            scheduleFlush()

        default:
            sendError(.protocolError, "unexpected message", requestID: requestID, on: channel)
        }
    }

    /// Checks a client's token (a container's own, or one the authenticator knows), then welcomes it in the token's
    /// workspace; a missing or wrong token gets `unauthenticated` and the connection is closed.
    private func authenticate(_ hello: Aloft_V1_Hello, requestID: UInt64, connection: ConnectionHandler, channel: any Channel) {
        let refuse: @Sendable (String) -> Void = { [self] message in
            logger.info("refused a client", metadata: ["aloft.reason": "\(message)"])
            sendError(.unauthenticated, message, requestID: requestID, on: channel)
            channel.flush()
            channel.close(promise: nil)
        }
        if hello.token.hasPrefix("ctr:") {
            // A container's token lets its body call functions, nothing else (never register a worker host).
            guard hello.role == .client else {
                refuse("a container token is for clients only")
                return
            }
            let parts = hello.token.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, let container = containers[String(parts[1])],
                  Secrets.equal(container.clientSecret, String(parts[2])) else {
                refuse("this container token is not valid (its container has stopped)")
                return
            }
            connection.workspace = container.pool.workspace
            welcome(hello, requestID: requestID, connection: connection, channel: channel)
            return
        }
        guard let authenticator = configuration.authenticator else { return }
        let token = hello.token
        let checked = loop.makePromise(of: String.self)
        let kind: StoredToken.Kind = hello.role == .worker ? .worker : .client
        checked.completeWithTask { try await authenticator.workspace(forToken: token, kind: kind) }
        let boundConnection = NIOLoopBound(connection, eventLoop: loop)  // answered on this loop
        checked.futureResult.whenComplete { [self] result in
            switch result {
            case .success(let workspace):
                boundConnection.value.workspace = workspace
                welcome(hello, requestID: requestID, connection: boundConnection.value, channel: channel)
            case .failure(let error as AloftError) where error.code == .unauthenticated:
                refuse(error.message)
            case .failure(let error):
                logger.error("a token could not be checked", metadata: ["aloft.error": "\(error)"])
                refuse("the token could not be checked; try again")
            }
        }
    }

    private func welcome(_ hello: Aloft_V1_Hello, requestID: UInt64, connection: ConnectionHandler, channel: any Channel) {
            connection.role = hello.role
            var reply = Aloft_V1_HelloReply()
            reply.protocolVersion = AloftLimits.protocolVersion
            reply.maxPayloadBytes = UInt64(configuration.maxPayloadBytes)
            if hello.role == .container, let container = containers[hello.containerID] {
                reply.maxInputs = UInt32(container.bodies)
            }
            send(.helloReply(reply), requestID: requestID, on: channel)
            if hello.role == .container { containerConnected(hello.containerID, channel: channel) }  // after the reply: it may send inputs
    }

    /// A registered function, if `workspace` may use it.
    func function(_ id: UInt64, in workspace: String) -> (pool: FunctionPool, name: String)? {
        guard let function = functions[id], function.pool.workspace == workspace, !function.pool.stopped else { return nil }
        return function
    }

    /// A call in memory, if `workspace` may use it.
    private func call(_ id: String, in workspace: String) -> CallRecord? {
        guard let call = calls[id], call.workspace == workspace else { return nil }
        return call
    }

    /// Creates a call with its first inputs (from a caller on the wire or in this process); `accepted` runs once it
    /// is accepted: at once, or for a stored kind once the batch that holds it is stored.
    private func createCall(id: String, kind: Aloft_V1_CallKind, functionID: UInt64, pool: FunctionPool, functionName: String,
                            inputs: [Aloft_V1_Input], last: Bool, subscriber: (any Channel)?,
                            accepted: @escaping @Sendable (Result<Void, AloftError>) -> Void) {
        let call = CallRecord(id: id, kind: kind, pool: pool, functionName: functionName)
        call.subscriber = subscriber
        calls[call.id] = call
        for input in inputs { addInput(input, to: call) }
        call.inputsClosed = last || kind == .spawn  // a spawn sends its one input here
        if isStored(call.kind) {
            record(.putCall(StoredCall(id: call.id, workspace: call.workspace, functionID: functionID, kind: call.kind.rawValue,
                                       inputsClosed: call.inputsClosed, createdAt: Date())))
            record(.putInputs(callID: call.id, inputs.map { StoredInput(index: $0.index, data: $0.data) }))
        }
        whenAccepted(call, accepted)
        schedule(pool)
    }

    private func putInputs(_ put: Aloft_V1_CallPutInputs, into call: CallRecord, requestID: UInt64, channel: any Channel) {
        for input in put.inputs where input.data.count > configuration.maxPayloadBytes {
            var result = Aloft_V1_Output()
            result.index = input.index
            result.result = .failure(.failure, payloadTooLarge(input.data.count))
            deliver(result.result, index: input.index, to: call)
        }
        if !call.cancelled {
            let accepted = put.inputs.filter { $0.data.count <= configuration.maxPayloadBytes }
            for input in accepted { addInput(input, to: call) }
            if isStored(call.kind) {
                record(.putInputs(callID: call.id, accepted.map { StoredInput(index: $0.index, data: $0.data) }))
            }
            schedule(call.pool)
        }
        if put.last {
            call.inputsClosed = true
            if isStored(call.kind) { record(.closeInputs(callID: call.id)) }
            forgetIfFinished(call)
        }
        if requestID != 0 {
            whenAccepted(call) { [self] accepted in acknowledge(accepted, requestID: requestID, channel: channel) }
        }
    }

    /// Registers a function (a definition or a look-up) and returns its id: `functionID` when restoring one from
    /// the store, else the id it already has, or a new one.
    func register(_ registration: Aloft_V1_FunctionRegister, workspace: String, functionID: UInt64?, persist: Bool, replacing: Bool = false) -> UInt64 {
        var register = registration
        // An executable uploaded to the artifact store (`aloft run`, `aloft deploy`) runs from there, here or on a
        // worker host; an unknown hash falls back to the path the registration names.
        if !register.artifact.isEmpty {
            if let path = configuration.artifacts?.path(of: register.artifact, workspace: workspace) { register.executable = path } else { register.artifact = "" }
        }
        let key = Self.poolKey(workspace: workspace, app: register.appName, pool: register.poolName.isEmpty ? register.functionName : register.poolName)
        let pool: FunctionPool
        var changed = false
        if let existing = poolsByKey[key] {
            // A look-up handle (no body) uses the pool as it is; only a definition may change its options, and only a
            // deployment may change a deployed function.
            let redefines = register.isDefinition && (register.deployed || !existing.deployed)
            if redefines && (existing.options != register.options || existing.executable != register.executable) {
                // Containers keep the options they started with: new options get new containers, and the old
                // ones finish what they were sent and exit.
                for container in existing.containers.values { stop(container, grace: existing.timeout) }
            }
            if redefines {
                changed = existing.options != register.options || existing.executable != register.executable
                    || existing.arguments != register.arguments || existing.stopped || existing.deployed != register.deployed
                existing.deployed = register.deployed
                existing.options = register.options
                existing.executable = register.executable
                existing.arguments = register.arguments
                existing.artifact = register.artifact
                existing.stopReason = nil
            }
            pool = existing
            schedule(pool)
        } else {
            pool = FunctionPool(id: makeID(), workspace: workspace, register: register, defaultMaxContainers: configuration.defaultMaxContainers)
            poolsByKey[key] = pool
            changed = true
            logger.debug("registered function", metadata: ["aloft.function": "\(key)", "aloft.function_id": "\(pool.id)"])
            schedule(pool)
        }
        let functionKey = key + "#" + register.functionName
        let known = functionIDs[functionKey]
        let id = functionID ?? known ?? makeID()
        functionIDs[functionKey] = id
        functions[id] = (pool, register.functionName)
        if persist && (changed || known == nil || replacing), let registration = try? register.serializedBytes() as Data {
            record(.putFunction(StoredFunction(id: id, key: functionKey, workspace: workspace, appName: register.appName, registration: registration)))
        }
        return id
    }

    /// Pools are per workspace: two workspaces may each have an app of the same name.
    static func poolKey(workspace: String, app: String, pool: String) -> String {
        workspace.isEmpty ? "\(app)/\(pool)" : "\(workspace)/\(app)/\(pool)"
    }

    /// Everything but `Hello` needs a connection that said hello first.
    func requiresHello(_ envelope: Aloft_V1_Envelope, from connection: ConnectionHandler) -> Bool {
        if case .hello = envelope.body { return false }
        return connection.role == .unspecified
    }

    /// Runs `done` once what was recorded about `call` so far is stored (accepted means stored); if the store
    /// failed, the call is cancelled and `done` gets why.
    private func whenAccepted(_ call: CallRecord, _ done: @escaping @Sendable (Result<Void, AloftError>) -> Void) {
        whenStored { [self] stored in
            switch stored {
            case .success:
                done(.success(()))
            case .failure(let error):
                cancelCall(call)
                done(.failure(AloftError(.storeFailure, "the control plane could not store call \(call.id): \(error)")))
            }
        }
    }

    private func acknowledge(_ accepted: Result<Void, AloftError>, requestID: UInt64, channel: any Channel) {
        switch accepted {
        case .success: send(.ack(.init()), requestID: requestID, on: channel)
        case .failure(let error): sendError(error.code, error.message, requestID: requestID, on: channel)
        }
    }

    /// Answers a request for result `index` of a call in `workspace`: from memory (waiting up to `timeoutMs`), else
    /// from the store; another workspace's call is as unknown as one that never was.
    private func answerGet(callID: String, index: UInt64, workspace: String, timeoutMs: Int64, waiting: ObjectIdentifier?,
                           respond: @escaping @Sendable (Aloft_V1_Result?) -> Void, fail: @escaping @Sendable (AloftError) -> Void) {
        if let call = calls[callID] {
            guard call.workspace == workspace else { return fail(AloftError(.notFound, "no call with id \(callID)")) }
            getResult(of: call, index: index, timeoutMs: timeoutMs, waiting: waiting, respond: respond)
            return
        }
        storedResult(callID: callID, index: index, workspace: workspace) { found in
            switch found {
            case .success(let result): respond(result)
            case .failure(let error): fail(error)
            }
        }
    }

    /// The result of a call that is not in memory: finished before a restart, or forgotten once its result was
    /// stored. `notFound` when there is none (never accepted, or expired).
    private func storedResult(callID: String, index: UInt64, workspace: String,
                              _ done: @escaping @Sendable (Result<Aloft_V1_Result, AloftError>) -> Void) {
        let notFound = "no call with id \(callID)"
        guard let store = configuration.store else {
            done(.failure(AloftError(.notFound, notFound + " (without a store, results live as long as the control plane that ran them)")))
            return
        }
        let lookup = loop.makePromise(of: Data?.self)
        lookup.completeWithTask {
            // Another workspace's call is as unknown as a call that never was.
            guard try await store.call(id: callID)?.workspace == workspace else { return nil }
            return try await store.result(callID: callID, index: index)
        }
        lookup.futureResult.whenComplete { [self] result in
            switch result {
            case .success(let data?):
                guard let stored = try? Aloft_V1_Result(serializedBytes: data) else {
                    done(.failure(AloftError(.storeFailure, "the stored result of call \(callID) could not be decoded")))
                    return
                }
                done(.success(stored))
            case .success(nil):
                let retention = configuration.resultRetention.components.seconds / 3600
                done(.failure(AloftError(.notFound, notFound + " (results are kept for \(retention) hours)")))
            case .failure(let error):
                done(.failure(AloftError(.storeFailure, "the store failed to read call \(callID): \(error)")))
            }
        }
    }

    private func checkPayload(_ size: Int, requestID: UInt64, channel: any Channel) -> Bool {
        guard size > configuration.maxPayloadBytes else { return true }
        let error = payloadTooLarge(size)
        sendError(error.code, error.message, requestID: requestID, on: channel)
        return false
    }

    private func payloadTooLarge(_ size: Int) -> AloftError {
        AloftError(.payloadTooLarge, "argument of \(size) bytes exceeds the inline payload limit of \(configuration.maxPayloadBytes) bytes")
    }

    // MARK: Inputs and calls

    private func addInput(_ input: Aloft_V1_Input, to call: CallRecord) {
        let record = InputRecord(id: makeID(), pool: call.pool, functionName: call.functionName, index: input.index, data: input.data, owner: .call(call))
        call.liveInputs[ObjectIdentifier(record)] = record
        enqueue(record)
    }

    private func enqueue(_ input: InputRecord) {
        inputs[input.id] = input
        input.pool.pending.append(input.id)
    }

    /// Answers with result `index` of `call` when it is there, or when it arrives within `timeoutMs` (< 0: no
    /// limit), else with nil.
    private func getResult(of call: CallRecord, index: UInt64, timeoutMs: Int64, waiting channel: ObjectIdentifier?,
                           respond: @escaping @Sendable (Aloft_V1_Result?) -> Void) {
        if let result = call.results[index] {
            respond(result)
            return
        }
        if timeoutMs == 0 {
            respond(nil)
            return
        }
        var waiter = CallRecord.Waiter(id: makeID(), index: index, channel: channel, respond: respond)
        if timeoutMs > 0 {
            let waiterID = waiter.id
            waiter.timer = loop.scheduleTask(in: .milliseconds(timeoutMs)) {
                guard let position = call.waiters.firstIndex(where: { $0.id == waiterID }) else { return }
                call.waiters.remove(at: position).respond(nil)
            }
        }
        call.waiters.append(waiter)
    }

    private func cancelCall(_ call: CallRecord) {
        guard !call.cancelled else { return }
        call.cancelled = true
        for input in Array(call.liveInputs.values) {
            cancelInput(input, message: "call \(call.id) was cancelled")
        }
        call.liveInputs.removeAll()
        forgetIfFinished(call)
        logger.debug("call cancelled", metadata: ["aloft.call_id": "\(call.id)"])
    }

    /// Ends an input as cancelled: its owner is told now; it is never retried; if a container has it, the
    /// container is asked to stop it, and is stopped itself if the input is still there after the grace period.
    private func cancelInput(_ input: InputRecord, message: String) {
        guard !input.resolved else { return }
        input.timeoutTimer?.cancel()
        input.timeoutTimer = nil
        resolve(input, with: .failure(.cancelled, AloftError(.cancelled, message)))
        guard let container = input.container, let channel = container.channel else {
            inputs[input.id] = nil  // still in the backlog (or waiting to retry): it never runs
            input.pool.cancelledInBacklog += 1
            return
        }
        var cancel = Aloft_V1_InputCancel()
        cancel.inputIds = [input.id]
        send(.inputCancel(cancel), on: channel)
        let attemptID = input.id
        loop.scheduleTask(in: TimeAmount(configuration.cancellationGrace)) { [self] in
            guard containers[container.id] === container, container.assigned.contains(attemptID) else { return }
            logger.info("cancelled input still running after the grace period; stopping its container",
                        metadata: ["aloft.container_id": "\(container.id)"])
            container.handle?.kill()
            containerGone(container.id, reason: "was stopped because a cancelled input did not stop")
        }
    }

    private func outputArrived(_ output: Aloft_V1_OutputPut, from containerID: String) {
        if let container = containers[containerID] {
            if let position = container.assigned.firstIndex(of: output.inputID) { container.assigned.remove(at: position) }
            if container.assigned.isEmpty { container.idleSince = .now() }
            startTimeouts(on: container)
        }
        // An unknown id is an earlier attempt's output (its input timed out, was retried or cancelled): dropped.
        guard let input = inputs.removeValue(forKey: output.inputID) else { return }
        input.timeoutTimer?.cancel()
        input.timeoutTimer = nil
        input.container = nil
        if !input.resolved { finish(input, with: output.result) }
        schedule(input.pool)
    }

    /// Retries a failed attempt if its function allows it, else gives the owner the result.
    private func finish(_ input: InputRecord, with result: Aloft_V1_Result) {
        let pool = input.pool
        let retryable = result.status == .timeout
            || (result.status == .failure && (result.error.code.isEmpty || result.error.code == AloftError.Code.remoteError.rawValue))
        guard retryable, input.retries < Int(pool.options.maxRetries), !input.isGenerator else {
            resolve(input, with: result)
            return
        }
        input.retries += 1
        let delay = pool.retryDelay(input.retries)
        logger.debug("retrying input", metadata: ["aloft.function": "\(pool.name)", "aloft.retry": "\(input.retries)"])
        requeue(input, after: delay)
    }

    /// Queues another attempt of `input` under a new id: at the front of the backlog at once, or at the back
    /// after `delay`.
    private func requeue(_ input: InputRecord, after delay: TimeAmount = .zero) {
        input.id = makeID()
        input.container = nil
        inputs[input.id] = input
        guard delay > .zero else {
            input.pool.pending.prepend(input.id)
            return
        }
        let attemptID = input.id
        loop.scheduleTask(in: delay) { [self] in
            guard inputs[attemptID] === input, !input.resolved else { return }
            input.pool.pending.append(attemptID)
            schedule(input.pool)
        }
    }

    /// Starts the per-attempt timeout of the inputs a container is running (the first `slots` it was sent).
    private func startTimeouts(on container: ContainerRecord) {
        for inputID in container.assigned.prefix(container.slots) {
            guard let input = inputs[inputID], input.timeoutTimer == nil, !input.resolved else { continue }
            let timeout = input.pool.timeout
            input.timeoutTimer = loop.scheduleTask(in: timeout) { [self] in
                timedOut(input, attemptID: inputID, after: timeout, on: container)
            }
        }
    }

    /// An attempt ran past its timeout: it ends as a timeout (retried if the function allows), and its container
    /// is stopped, since the input may still be running there.
    private func timedOut(_ input: InputRecord, attemptID: UInt64, after timeout: TimeAmount, on container: ContainerRecord) {
        guard inputs[attemptID] === input, !input.resolved else { return }
        inputs[attemptID] = nil  // it keeps its place in `container.assigned`, so the teardown below counts right
        input.timeoutTimer = nil
        logger.info("input timed out; stopping its container", metadata: ["aloft.function": "\(input.pool.name)", "aloft.container_id": "\(container.id)"])
        let seconds = Double(timeout.nanoseconds) / 1e9
        let message = "function '\(input.pool.name)' timed out after \(seconds) s (attempt \(input.retries + 1)) in container \(container.id)"
        finish(input, with: .failure(.timeout, AloftError(.timeout, message)))
        container.handle?.kill()
        containerGone(container.id, reason: "was stopped after an input timed out")
    }

    /// Gives an input's owner its result. The input must already be out of `inputs` or marked as resolved.
    func resolve(_ input: InputRecord, with result: Aloft_V1_Result) {
        input.resolved = true
        switch input.owner {
        case .invoke(let channel, let requestID, let callID):
            if !callID.isEmpty { invocations[callID] = nil }
            var reply = Aloft_V1_InvokeResult()
            reply.result = result
            send(.invokeResult(reply), requestID: requestID, on: channel)
        case .call(let call):
            call.liveInputs[ObjectIdentifier(input)] = nil
            deliver(result, index: input.index, to: call)
            forgetIfFinished(call)
        case .local(let promise):
            promise.succeed(result)
        }
    }

    /// Map and detached calls are forgotten once every input has finished. Spawned calls keep their results: in
    /// memory without a store, else in the store (and are forgotten here once it has them).
    private func forgetIfFinished(_ call: CallRecord) {
        guard call.liveInputs.isEmpty, call.inputsClosed || call.cancelled else { return }
        switch call.kind {
        case .spawn:
            guard isStored(.spawn) else { return }
            whenStored { [self] stored in
                guard case .success = stored, calls[call.id] === call, call.waiters.isEmpty, call.liveInputs.isEmpty else { return }
                calls[call.id] = nil
            }
        case .detached:
            if isStored(.detached) { record(.deleteCall(id: call.id)) }
            calls[call.id] = nil
        default:
            calls[call.id] = nil
        }
    }

    private func deliver(_ result: Aloft_V1_Result, index: UInt64, to call: CallRecord) {
        switch call.kind {
        case .detached:
            if isStored(.detached) { record(.finishInput(callID: call.id, index: index, result: nil, expiresAt: Date())) }
            return
        case .map, .generator:
            guard call.subscriber != nil else { return }
            var output = Aloft_V1_Output()
            output.index = index
            output.result = result
            output.done = call.kind == .generator
            outputsToPush[call.id, default: (call, [])].outputs.append(output)
            scheduleFlush()
        default:
            call.results[index] = result
            if isStored(call.kind), let data = try? result.serializedBytes() as Data {
                record(.finishInput(callID: call.id, index: index, result: data, expiresAt: resultExpiry))
            }
            call.waiters.removeAll { waiter in
                guard waiter.index == index else { return false }
                waiter.timer?.cancel()
                waiter.respond(result)
                return true
            }
        }
    }

    // MARK: Scheduling

    /// Starts the containers the load asks for, then hands queued inputs to container slots.
    ///
    /// The autoscaler aims for `targetInputs` per container: while more containers may start, each takes at most
    /// that many inputs; at `maxContainers` each takes up to `maxInputs`, plus `prefetchPerContainer` queued on it.
    func schedule(_ pool: FunctionPool) {
        if pool.stopped && !pool.pending.isEmpty { failQueued(of: pool) }  // put back after its app stopped
        if pool.cancelledInBacklog > 0 {
            pool.pending = CircularBuffer(pool.pending.filter { inputs[$0].map { !$0.resolved } ?? false })
            pool.cancelledInBacklog = 0
        }
        var active = pool.containers.values.count { !$0.stopping }
        if shutdownPromise == nil {
            let desired = desiredContainers(pool)
            // Containers that keep failing to start are retried for inputs, not just to keep the warm floor.
            let mayStart = pool.consecutiveStartFailures < configuration.maxConsecutiveStartFailures || !pool.pending.isEmpty
            while active < desired && mayStart {
                guard startContainer(for: pool) else { break }
                active += 1
            }
        }
        // Bursting past the target waits until every container the pool may have is up.
        let atLimit = active >= pool.maxContainers && !pool.containers.values.contains(where: \.isStarting)
        dispatch(pool, atLimit: atLimit, extra: 0)
        if !pool.pending.isEmpty && atLimit && configuration.prefetchPerContainer > 0 {
            dispatch(pool, atLimit: true, extra: configuration.prefetchPerContainer)
        }
    }

    /// Inputs waiting or sent to containers and not finished.
    private func load(of pool: FunctionPool) -> Int {
        pool.pending.count + pool.containers.values.reduce(0) { $0 + $1.assigned.count }
    }

    /// Containers for the current load: `load / targetInputs`, plus `bufferContainers` while there is any load,
    /// within `minContainers ... maxContainers`.
    private func desiredContainers(_ pool: FunctionPool) -> Int {
        guard !pool.stopped else { return 0 }
        let load = load(of: pool)
        var desired = (load + pool.targetPerContainer - 1) / pool.targetPerContainer
        if load > 0 { desired += Int(pool.options.bufferContainers) }
        return min(pool.maxContainers, max(Int(pool.options.minContainers), desired))
    }

    /// Sends queued inputs to connected containers, least loaded first, up to `targetInputs` each (`maxInputs` at
    /// the container limit) plus `extra`.
    private func dispatch(_ pool: FunctionPool, atLimit: Bool, extra: Int) {
        while let inputID = pool.pending.first {
            guard let input = inputs[inputID], !input.resolved else {
                pool.pending.removeFirst()
                continue
            }
            var leastLoaded: ContainerRecord?
            for candidate in pool.containers.values
            where candidate.isServing && candidate.assigned.count < (atLimit ? candidate.slots : min(candidate.slots, pool.targetPerContainer)) + extra {
                if candidate.assigned.count < leastLoaded?.assigned.count ?? .max { leastLoaded = candidate }
            }
            guard let container = leastLoaded, let channel = container.channel else { break }
            pool.pending.removeFirst()
            input.container = container
            container.assigned.append(input.id)
            var dispatch = Aloft_V1_InputDispatch()
            dispatch.inputID = input.id
            dispatch.functionName = input.functionName
            dispatch.data = input.data
            send(.inputDispatch(dispatch), on: channel)
            startTimeouts(on: container)
        }
    }

    /// Starts a container where there is room; false when there is none (see `placement(for:)`).
    private func startContainer(for pool: FunctionPool) -> Bool {
        guard let placement = placement(for: pool) else {
            noRoom(for: pool)
            return false
        }
        waitingForRoom[ObjectIdentifier(pool)] = nil
        let container = ContainerRecord(id: "ctr-" + randomHex(), pool: pool)
        var spec = ContainerSpec(
            containerID: container.id,
            appName: pool.appName,
            functionName: pool.name,
            executable: pool.executable,
            arguments: pool.arguments,
            environment: [AloftEnvironment.controlPlaneAddress: address, AloftEnvironment.containerID: container.id]
                .merging(configuration.authenticator == nil ? [:] : [
                    AloftEnvironment.token: "ctr:\(container.id):\(container.clientSecret)",
                ]) { _, new in new }
                .merging(pool.artifact.isEmpty ? [:] : [AloftEnvironment.artifact: pool.artifact]) { _, new in new }
                .merging(pool.className.isEmpty ? [:] : [
                    AloftEnvironment.className: pool.className,
                    AloftEnvironment.classParameters: pool.classParameters.base64EncodedString(),
                ]) { _, new in new }
        )
        spec.onOutput = { [self] lines, standardError in
            guard hasLogFollowers.load(ordering: .relaxed), !loopClosing.load(ordering: .sequentiallyConsistent) else { return }
            var output = Aloft_V1_ContainerOutput()
            output.containerID = container.id
            output.data = lines
            output.standardError = standardError
            loop.execute { self.containerPrinted(output) }
        }
        containers[container.id] = container
        pool.containers[container.id] = container
        logger.debug("starting container", metadata: ["aloft.container_id": "\(container.id)", "aloft.function": "\(pool.name)"])
        switch placement {
        case .worker(let worker):
            startRemotely(container, spec: spec, on: worker)
        case .local:
            do {
                container.handle = try configuration.containerRuntime.start(spec) { [self] status in
                    guard !loopClosing.load(ordering: .sequentiallyConsistent) else { return }
                    loop.execute { self.containerExited(container.id, reason: "exited with status \(status)") }
                }
            } catch {
                containerGone(container.id, reason: "could not be started: \(error)")
                return true
            }
        }
        container.startupTimer = loop.scheduleTask(in: pool.startupTimeout) { [self] in
            guard container.isStarting else { return }
            logger.warning("container did not connect within its startup timeout", metadata: ["aloft.container_id": "\(container.id)"])
            container.handle?.kill()
        }
        return true
    }

    /// Passes a container's output to the clients that follow its app.
    private func containerPrinted(_ output: Aloft_V1_ContainerOutput) {
        guard let container = containers[output.containerID],
              let followers = logFollowers[Self.poolKey(workspace: container.pool.workspace, app: container.pool.appName, pool: "")]
        else { return }
        for channel in followers.values { send(.containerOutput(output), on: channel) }
    }

    /// False (and the connection closed) for an unknown container id or one that is already connected.
    private func isExpectedContainer(_ containerID: String, channel: any Channel) -> Bool {
        guard let container = containers[containerID], container.channel == nil else {
            logger.warning("unknown or duplicate container connected", metadata: ["aloft.container_id": "\(containerID)"])
            channel.close(promise: nil)
            return false
        }
        return true
    }

    private func containerConnected(_ containerID: String, channel: any Channel) {
        guard let container = containers[containerID] else { return }
        container.channel = channel
        container.idleSince = .now()
        container.startupTimer?.cancel()
        container.pool.consecutiveStartFailures = 0
        if container.stopping {
            send(.containerStop(.init()), on: channel)  // stopped while it started (its kill may not have reached it)
        } else if shutdownPromise != nil {
            stop(container)
        } else {
            schedule(container.pool)
        }
    }

    /// A container's process ended. A connected container's last outputs may still be in its connection, unread:
    /// the close that follows them ends it (or, at the latest, a moment later).
    func containerExited(_ containerID: String, reason: String) {
        guard let container = containers[containerID] else { return }
        guard container.channel != nil else {
            containerGone(containerID, reason: reason)
            return
        }
        loop.scheduleTask(in: .seconds(2)) { [self] in containerGone(containerID, reason: reason) }
    }

    /// A container's process ended or its connection closed; whichever comes first ends it.
    func containerGone(_ containerID: String, reason: String) {
        guard let container = containers.removeValue(forKey: containerID) else { return }
        let pool = container.pool
        pool.containers[containerID] = nil
        container.startupTimer?.cancel()
        container.handle?.kill()  // the connection may close before the process exits
        container.channel?.close(promise: nil)  // a container declared gone (its worker host was lost) can no longer report
        if let worker = container.worker {
            worker.containers.remove(containerID)
            scheduleWaitingForRoom()  // a slot on a worker host is free
        }
        if container.channel == nil && !container.stopping {
            pool.consecutiveStartFailures += 1
            pool.lastStartFailure = reason
            logger.warning("container exited before connecting", metadata: ["aloft.container_id": "\(containerID)", "aloft.reason": "\(reason)"])
        } else {
            logger.debug("container gone", metadata: ["aloft.container_id": "\(containerID)", "aloft.reason": "\(reason)"])
        }
        // A container runs its inputs in the order they were sent: the first `slots` were running, the rest only
        // queued on it. Both go back to the front of the backlog, the running ones first.
        for inputID in container.assigned.dropFirst(container.slots).reversed() {
            guard let input = inputs[inputID] else { continue }
            if input.resolved {
                inputs[inputID] = nil  // its owner already has an answer (cancelled, or the caller left)
            } else {
                input.container = nil
                pool.pending.prepend(inputID)
            }
        }
        // A lost input is run again at once without using a retry (Modal's internal-failure rule), up to a cap.
        let running = container.assigned.prefix(container.slots)
        for inputID in running.reversed() {
            guard let input = inputs.removeValue(forKey: inputID) else { continue }
            input.timeoutTimer?.cancel()
            input.timeoutTimer = nil
            guard !input.resolved else { continue }
            if input.internalRetries < configuration.maxInternalFailureRetries && !input.isGenerator {
                input.internalRetries += 1
                requeue(input)
            } else {
                let message = "container \(containerID) of function '\(pool.name)' \(reason) while running this input "
                    + "(it had already been re-run \(input.internalRetries) times after lost containers)"
                resolve(input, with: .failure(.internalFailure, AloftError(.internalFailure, message)))
            }
        }
        container.assigned.removeAll()
        if pool.consecutiveStartFailures >= configuration.maxConsecutiveStartFailures {
            failPending(of: pool)
        }
        if containers.isEmpty { finishShutdown() }
        schedule(pool)
    }

    private func failPending(of pool: FunctionPool) {
        let error = AloftError(.internalFailure, """
            containers of function '\(pool.name)' failed to start \(pool.consecutiveStartFailures) times in a row \
            (last: \(pool.lastStartFailure)); see the container output above
            """)
        while let inputID = pool.pending.popFirst() {
            guard let input = inputs.removeValue(forKey: inputID), !input.resolved else { continue }
            resolve(input, with: .failure(.internalFailure, error))
        }
        // The count stays: only a container that connects resets it, so a broken executable is not restarted
        // just to keep the warm floor, and each later input gets one more try.
    }

    /// Asks a container to finish what it was sent and exit; kills it after `grace` (default: the control plane's
    /// stop grace).
    func stop(_ container: ContainerRecord, grace: TimeAmount? = nil) {
        guard !container.stopping else { return }
        container.stopping = true
        // A container that has not connected yet has nothing to finish (and may still ignore SIGTERM, inherited from
        // a caller that handles it): it is killed.
        if let channel = container.channel { send(.containerStop(.init()), on: channel) } else { container.handle?.kill() }
        loop.scheduleTask(in: grace ?? TimeAmount(configuration.containerStopGrace)) {
            container.handle?.kill()
        }
    }

    // MARK: Connections

    func connectionClosed(_ connection: ConnectionHandler, channel: any Channel) {
        if !logFollowers.isEmpty {
            for key in Array(logFollowers.keys) {
                logFollowers[key]?[ObjectIdentifier(channel)] = nil
                if logFollowers[key]?.isEmpty == true { logFollowers[key] = nil }
            }
            hasLogFollowers.store(!logFollowers.isEmpty, ordering: .relaxed)
        }
        if connection.role == .container {
            containerGone(connection.containerID, reason: "closed its connection")
            return
        }
        if connection.role == .worker {
            workerLost(channel, reason: "its connection closed")
            return
        }
        // A client went away: what only it was waiting for is dropped. Spawned calls live on.
        let key = ObjectIdentifier(channel)
        for input in inputs.values where !input.resolved {
            switch input.owner {
            case .invoke(let owner, _, _) where ObjectIdentifier(owner) == key:
                cancelInput(input, message: "the caller went away")
            case .call(let call) where (call.kind == .map || call.kind == .generator) && call.subscriber.map(ObjectIdentifier.init) == key:
                call.subscriber = nil
                cancelCall(call)
            default:
                break
            }
        }
        for call in calls.values {
            call.waiters.removeAll { waiter in
                guard waiter.channel == key else { return false }
                waiter.timer?.cancel()
                return true
            }
        }
    }

    // MARK: Lifecycle

    func startReaper() {
        reaper = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .milliseconds(500)) { [self] _ in
            let now = NIODeadline.now()
            expireWorkerLeases(now: now)
            if configuration.store != nil, now - lastExpiry >= .minutes(1) {
                lastExpiry = now
                record(.expireResults(before: Date()))
            }
            for pool in poolsByKey.values {
                var active = pool.containers.values.count { !$0.stopping }
                let desired = desiredContainers(pool)
                for container in pool.containers.values
                where active > desired && container.channel != nil && !container.stopping
                    && container.assigned.isEmpty && now - container.idleSince >= pool.scaledownWindow
                {
                    logger.debug("stopping idle container", metadata: ["aloft.container_id": "\(container.id)"])
                    stop(container)
                    active -= 1
                }
            }
        }
    }

    /// Stops every container and waits for them to exit (killing them after the grace period).
    func shutdown() -> EventLoopFuture<Void> {
        if let shutdownPromise { return shutdownPromise.futureResult }
        logger.info("control plane stopping containers", metadata: ["aloft.containers": "\(containers.count)"])
        let promise = loop.makePromise(of: Void.self)
        shutdownPromise = promise
        reaper?.cancel()
        // In-process callers (the HTTP API) are answered now, so that their requests end and the server can stop.
        for input in Array(inputs.values) where !input.resolved {
            if case .local = input.owner { cancelInput(input, message: "the control plane is stopping") }
        }
        for call in calls.values {
            call.waiters.removeAll { waiter in
                guard waiter.channel == nil else { return false }
                waiter.timer?.cancel()
                waiter.respond(nil)
                return true
            }
        }
        if containers.isEmpty {
            finishShutdown()
        } else {
            for container in containers.values { stop(container) }
            // Every container was killed after the grace period; one whose exit is never reported must not keep
            // the control plane from stopping.
            loop.scheduleTask(in: TimeAmount(configuration.containerStopGrace) + .seconds(5)) { [self] in
                guard !containers.isEmpty else { return }
                logger.warning("containers not seen to exit; stopping anyway", metadata: ["aloft.containers": "\(containers.keys.sorted())"])
                for container in containers.values { container.handle?.kill() }
                finishShutdown()
            }
        }
        return promise.futureResult
    }

    /// Completes a shutdown in progress, once.
    private func finishShutdown() {
        guard let shutdownPromise, !shutdownFinished else { return }
        shutdownFinished = true
        shutdownPromise.succeed()
    }
}

// MARK: In-process calls (the HTTP API)

extension ControlPlaneState {
    /// Function `name` of app `appName` in `workspace`, deployed (or registered by a run of the app) and not
    /// stopped: for `Function.lookup` on the wire and for the HTTP API.
    private func namedFunction(workspace: String, app appName: String, function name: String) throws(AloftError)
        -> (id: UInt64, pool: FunctionPool, name: String) {
        guard let id = functionIDs[Self.poolKey(workspace: workspace, app: appName, pool: name) + "#" + name],
              let (pool, functionName) = function(id, in: workspace) else {
            throw AloftError(.notFound, "no function '\(name)' in app '\(appName)' is deployed here: deploy the app with `aloft deploy`")
        }
        return (id, pool, functionName)
    }

    /// Runs one input, as `.remote` does, and completes `promise` with its result.
    func invokeLocally(workspace: String, app: String, function name: String, payload: Data, promise: EventLoopPromise<Aloft_V1_Result>) {
        do {
            let (_, pool, functionName) = try namedFunction(workspace: workspace, app: app, function: name)
            guard payload.count <= configuration.maxPayloadBytes else { throw payloadTooLarge(payload.count) }
            let input = InputRecord(id: makeID(), pool: pool, functionName: functionName, index: 0, data: payload, owner: .local(promise))
            enqueue(input)
            schedule(pool)
        } catch {
            promise.fail(error)
        }
    }

    /// Spawns a call with one input, as `.spawn` does; succeeds with its id once it is accepted (stored, with a store).
    func spawnLocally(workspace: String, app: String, function name: String, payload: Data, promise: EventLoopPromise<String>) {
        do {
            let (id, pool, functionName) = try namedFunction(workspace: workspace, app: app, function: name)
            guard payload.count <= configuration.maxPayloadBytes else { throw payloadTooLarge(payload.count) }
            let callID = "fc-" + randomHex() + randomHex()
            var input = Aloft_V1_Input()
            input.data = payload
            createCall(id: callID, kind: .spawn, functionID: id, pool: pool, functionName: functionName, inputs: [input],
                       last: true, subscriber: nil) { accepted in
                promise.completeWith(accepted.map { callID }.mapError { $0 as any Error })
            }
        } catch {
            promise.fail(error)
        }
    }

    /// Result `index` of a spawned call, waiting up to `timeoutMs` (< 0: no limit); nil if it is not ready by then.
    func resultLocally(workspace: String, callID: String, index: UInt64, timeoutMs: Int64, promise: EventLoopPromise<Aloft_V1_Result?>) {
        answerGet(callID: callID, index: index, workspace: workspace, timeoutMs: timeoutMs, waiting: nil,
                  respond: { promise.succeed($0) }, fail: { promise.fail($0) })
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

func randomHex() -> String {
    String(UInt64.random(in: .min ... .max), radix: 16)
}
