import AloftCore
import AloftWire
import Foundation
import Logging
import Synchronization

extension Function {
    /// Modal's default: at most this many inputs of one map are sent and not yet consumed by the caller.
    public static var defaultMapWindow: Int { 1000 }

    /// Runs the function over every input, in parallel containers, streaming the results.
    ///
    /// Inputs are read lazily, and at most `window` of them are in flight (sent but whose result the caller has not
    /// consumed yet), so a map over a million inputs runs in bounded memory. Results come in input order unless
    /// `orderOutputs` is false; the first failure is thrown as soon as it arrives.
    public func map<Inputs: Sequence & SendableMetatype>(
        _ inputs: Inputs, orderOutputs: Bool = true, window: Int = defaultMapWindow
    ) -> MapStream<Inputs, Input, Output, Output> where Inputs.Element == Input {
        MapStream(function: self, inputs: inputs, ordered: orderOutputs, window: window) { try $0.get() }
    }

    /// `map` with Modal's `return_exceptions`: every result, failed or not, is yielded as a `Result` at its place.
    /// With `returnExceptions: false` a failure is thrown instead, as in the plain form.
    public func map<Inputs: Sequence & SendableMetatype>(
        _ inputs: Inputs, orderOutputs: Bool = true, returnExceptions: Bool, window: Int = defaultMapWindow
    ) -> MapStream<Inputs, Input, Output, Result<Output, any Error>> where Inputs.Element == Input {
        MapStream(function: self, inputs: inputs, ordered: orderOutputs, window: window) { result in
            if case .failure(let error) = result, !returnExceptions { throw error }
            return result
        }
    }

    /// Runs the function over every input and waits for all of them, discarding the results
    /// (Modal's `for_each`). Throws the first failure unless `ignoreExceptions`.
    public func forEach<Inputs: Sequence & SendableMetatype>(
        _ inputs: Inputs, ignoreExceptions: Bool = false
    ) async throws where Inputs.Element == Input {
        for try await result in map(inputs, orderOutputs: false, returnExceptions: ignoreExceptions) {
            _ = result
        }
    }

    /// Blocking form of ``forEach(_:ignoreExceptions:)``.
    public func forEach<Inputs: Sequence & Sendable>(_ inputs: Inputs, ignoreExceptions: Bool = false) throws
    where Inputs.Element == Input {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await \(name).forEach(…)") {
            try await self.forEach(inputs, ignoreExceptions: ignoreExceptions)
        }
    }

    /// Queues the function for every input and returns once they are accepted, without waiting for results,
    /// which are dropped (Modal's `spawn_map`).
    public func spawnMap<Inputs: Sequence>(_ inputs: Inputs) async throws where Inputs.Element == Input {
        let (connection, functionID) = try await connectAndRegister()
        var create = Aloft_V1_CallCreate()
        create.functionID = functionID
        create.kind = .detached
        create.callID = CallID.make()
        _ = try await connection.request(.callCreate(create))
        var chunk: [Aloft_V1_Input] = []
        var index: UInt64 = 0
        func flush(last: Bool) async throws {
            var put = Aloft_V1_CallPutInputs()
            put.callID = create.callID
            put.inputs = chunk
            put.last = last
            chunk.removeAll(keepingCapacity: true)
            _ = try await connection.request(.callPutInputs(put))  // one round trip per chunk keeps the caller paced
        }
        for input in inputs {
            var wire = Aloft_V1_Input()
            wire.index = index
            wire.data = try encodeInput(input, limit: connection.maxPayloadBytes)
            chunk.append(wire)
            index += 1
            if chunk.count == 1000 { try await flush(last: false) }
        }
        try await flush(last: true)
    }

    /// Blocking form of ``spawnMap(_:)``.
    public func spawnMap<Inputs: Sequence & Sendable>(_ inputs: Inputs) throws where Inputs.Element == Input {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await \(name).spawnMap(…)") {
            try await self.spawnMap(inputs)
        }
    }
}

/// The results of a map, as an `AsyncSequence` (`for try await`), or through ``blocking`` as a `Sequence` of
/// `Result`s for synchronous code (a Swift `Sequence` cannot throw).
public struct MapStream<
    Inputs: Sequence & SendableMetatype, Input: Codable & Sendable, Output: Codable & Sendable, Element
>: AsyncSequence
where Inputs.Element == Input {
    let function: Function<Input, Output>
    let inputs: Inputs
    let ordered: Bool
    let window: Int
    let transform: (Result<Output, any Error>) throws -> Element

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(driver: MapDriver(stream: self))
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let driver: MapDriver<Inputs, Input, Output, Element>
        public mutating func next() async throws -> Element? {
            try await driver.next()
        }
    }

    /// The blocking form: a `Sequence` whose elements are the results as `Result`s, read on the calling thread.
    /// (The input sequence is read on a thread of the runtime's own, never on its event loop.)
    public var blocking: BlockingResults<Element> {
        let driver = MapDriver(stream: self)
        return BlockingResults(asyncForm: "for try await x in \(function.name).map(…)", runsUserCode: true) {
            try await driver.next().map(UncheckedBox.init)
        }
    }
}

/// The blocking form of a stream of results (a map's or a generator's): a `Sequence` of `Result`s, each read on the
/// calling thread (a Swift `Sequence` cannot throw). A failure is the last element.
public struct BlockingResults<Element>: Sequence, IteratorProtocol {
    private let nextElement: @Sendable () async throws -> UncheckedBox<Element>?
    private let asyncForm: String
    private let runsUserCode: Bool
    private var failed = false

    init(asyncForm: String, runsUserCode: Bool, next: @escaping @Sendable () async throws -> UncheckedBox<Element>?) {
        self.nextElement = next
        self.asyncForm = asyncForm
        self.runsUserCode = runsUserCode
    }

    public mutating func next() -> Result<Element, any Error>? {
        guard !failed else { return nil }
        do {
            guard
                let element = try AloftRuntime.shared.runBlocking(
                    asyncForm: asyncForm, runsUserCode: runsUserCode, nextElement)
            else {
                return nil
            }
            return .success(element.value)
        } catch {
            failed = true
            return .failure(error)
        }
    }
}

struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
}

/// The caller's side of one map: feeds inputs within the window, and hands results out in order.
final class MapDriver<
    Inputs: Sequence & SendableMetatype, Input: Codable & Sendable, Output: Codable & Sendable, Element
>: @unchecked Sendable
where Inputs.Element == Input {
    // Used by one iterating task at a time, like any iterator; only `results` is shared with the event loop.
    let stream: MapStream<Inputs, Input, Output, Element>
    private var inputIterator: Inputs.Iterator
    private var connection: WireConnection?
    private var callID = ""
    private var results: PushedOutputs?
    private var sent: UInt64 = 0
    private var consumed: UInt64 = 0
    private var nextIndex: UInt64 = 0
    private var inputsExhausted = false
    /// Inputs sent whose results the caller has not taken: sent again (those whose results had not arrived) on a
    /// new connection if the old one closes. At most `window` of them; kept only when the control plane is one to
    /// reconnect to (a server), so an embedded map pays nothing for it.
    private var unfinished: [UInt64: Data] = [:]
    private let keepsInputsForReconnect: Bool
    /// The control plane was told that no more inputs follow.
    private var lastSent = false
    private var finished = false

    init(stream: MapStream<Inputs, Input, Output, Element>) {
        self.stream = stream
        self.inputIterator = stream.inputs.makeIterator()
        self.keepsInputsForReconnect =
            AloftRuntime.shared.reconnectWindow(for: stream.function.app.controlPlane) > .zero
    }

    func next() async throws -> Element? {
        guard !finished else { return nil }
        do {
            if connection == nil {
                guard try await start() else { return nil }
            }
            while true {
                try topUp()
                if inputsExhausted && consumed == sent {
                    finish()
                    return nil
                }
                let (taken, generation) = results!.take(ordered: stream.ordered, nextIndex: nextIndex)
                if let (index, result) = taken {
                    consumed += 1
                    if keepsInputsForReconnect { unfinished[index] = nil }
                    if stream.ordered { nextIndex += 1 }
                    return try stream.transform(decode(result, index: index))
                }
                do {
                    try await results!.waitForArrival(after: generation)
                } catch let error as AloftError where error.code == .connectionFailed {
                    try await reconnect(after: error)
                }
            }
        } catch {
            finish()
            throw error
        }
    }

    private func decode(_ result: Aloft_V1_Result, index: UInt64) -> Result<Output, any Error> {
        Result { try Function<Input, Output>.decode(result, functionName: stream.function.name) }
    }

    /// Creates the call with the first inputs; false when there are no inputs at all.
    private func start() async throws -> Bool {
        let first = try takeInputs(upTo: stream.window, limit: AloftLimits.defaultMaxPayloadBytes)
        MapStatistics.record(inFlight: first.count)
        if first.isEmpty {
            finished = true
            return false
        }
        let (connection, functionID) = try await stream.function.connectAndRegister()
        for input in first {
            try PayloadCodec.checkSize(
                input.data, limit: connection.maxPayloadBytes, what: "argument of '\(stream.function.name)'")
        }
        self.connection = connection
        lastSent = inputsExhausted
        (callID, results) = try await PushedOutputRouter.shared.createCall(
            on: connection, functionID: functionID, kind: .map, inputs: first, last: inputsExhausted)
        return true
    }

    private func takeInputs(upTo count: Int, limit: Int) throws -> [Aloft_V1_Input] {
        var chunk: [Aloft_V1_Input] = []
        while chunk.count < count, !inputsExhausted {
            guard let input = inputIterator.next() else {
                inputsExhausted = true
                break
            }
            var wire = Aloft_V1_Input()
            wire.index = sent
            wire.data = try stream.function.encodeInput(input, limit: limit)
            chunk.append(wire)
            if keepsInputsForReconnect { unfinished[wire.index] = wire.data }
            sent += 1
        }
        return chunk
    }

    /// Sends more inputs once half the window is free, so inputs go out in large batches.
    private func topUp() throws {
        guard !lastSent, let connection else { return }
        let inFlight = Int(sent - consumed)
        guard inFlight <= stream.window / 2 else { return }
        var put = Aloft_V1_CallPutInputs()
        put.callID = callID
        put.inputs = try takeInputs(upTo: stream.window - inFlight, limit: connection.maxPayloadBytes)
        MapStatistics.record(inFlight: Int(sent - consumed))
        put.last = inputsExhausted
        lastSent = inputsExhausted
        connection.send(.callPutInputs(put))
    }

    /// The connection closed mid-map (a server restart, say): reconnects within the provider's reconnect window and
    /// continues as a new call carrying the inputs whose results had not arrived. The old call's outputs are no longer
    /// routed once the new call exists, and only inputs without a result go again, so no result is received twice;
    /// inputs that were running may run again (at-least-once).
    private func reconnect(after error: AloftError) async throws {
        let window = AloftRuntime.shared.reconnectWindow(for: stream.function.app.controlPlane)
        guard keepsInputsForReconnect, let results else { throw error }
        let deadline = ContinuousClock.now + window
        var lastError = error
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            do {
                let (connection, functionID) = try await stream.function.connectAndRegister()
                let resend = unfinished.filter { !results.isBuffered($0.key) }.sorted { $0.key < $1.key }.map {
                    index, data in
                    var input = Aloft_V1_Input()
                    input.index = index
                    input.data = data
                    return input
                }
                PushedOutputRouter.shared.unregister(callID)
                results.clearFailure()
                self.connection = connection
                (callID, _) = try await PushedOutputRouter.shared.createCall(
                    on: connection, functionID: functionID, kind: .map, inputs: resend, last: lastSent, results: results
                )
                AloftRuntime.shared.logger.warning(
                    "a map reconnected after its connection closed",
                    metadata: [
                        "aloft.function": "\(stream.function.name)", "aloft.resent_inputs": "\(resend.count)",
                    ])
                return
            } catch let error as AloftError where error.code == .connectionFailed {
                lastError = error
            }
        }
        throw AloftError(.connectionFailed, "\(lastError.message) (no reconnect within \(window))")
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        if !callID.isEmpty { PushedOutputRouter.shared.unregister(callID) }
        if let connection, !lastSent || consumed < sent {
            // Abandoned early (a failure, or the caller stopped iterating): stop what has not started.
            var cancel = Aloft_V1_CallCancel()
            cancel.callID = callID
            connection.send(.callCancel(cancel))
        }
    }

    deinit { finish() }
}

/// The largest number of inputs any map in this process had in flight: lets tests check the window holds.
enum MapStatistics {
    private static let largestInFlight = Atomic<Int>(0)
    static func record(inFlight: Int) { _ = largestInFlight.max(inFlight, ordering: .relaxed) }
    static var maxInFlight: Int { largestInFlight.load(ordering: .relaxed) }
    static func reset() { largestInFlight.store(0, ordering: .relaxed) }
}

/// Outputs of one map or generator call that the control plane pushed and the caller has not taken yet.
final class PushedOutputs: Sendable {
    private struct State {
        var byIndex: [UInt64: Aloft_V1_Result] = [:]
        var arrivalOrder: [UInt64] = []
        var waiter: CheckedContinuation<Void, Never>?
        var failure: AloftError?
        /// Counts deliveries, so a waiter sleeps until something new arrives (not merely while results are
        /// buffered that it cannot take yet, such as later indices of an ordered map).
        var generation: UInt64 = 0
        /// A generator's end, and how it ended.
        var end: Aloft_V1_Result?
    }
    private let state = Mutex(State())

    func receive(_ outputs: [Aloft_V1_Output]) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            for output in outputs {
                if output.done {
                    state.end = output.result
                } else if state.byIndex[output.index] == nil {
                    state.byIndex[output.index] = output.result
                    state.arrivalOrder.append(output.index)
                }
            }
            state.generation += 1
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func fail(_ error: AloftError) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.failure = error
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The next result to hand out, if it has arrived, and the delivery generation it was looked for in.
    func take(ordered: Bool, nextIndex: UInt64) -> (result: (UInt64, Aloft_V1_Result)?, generation: UInt64) {
        state.withLock { state in
            if ordered {
                guard let result = state.byIndex.removeValue(forKey: nextIndex) else { return (nil, state.generation) }
                return ((nextIndex, result), state.generation)
            }
            while !state.arrivalOrder.isEmpty {
                let index = state.arrivalOrder.removeFirst()
                if let result = state.byIndex.removeValue(forKey: index) { return ((index, result), state.generation) }
            }
            return (nil, state.generation)
        }
    }

    /// Whether the result of input `index` has arrived and waits to be taken.
    func isBuffered(_ index: UInt64) -> Bool { state.withLock { $0.byIndex[index] != nil } }

    /// Forgets a connection failure once the call carries on over a new connection.
    func clearFailure() { state.withLock { $0.failure = nil } }

    /// How a generator ended, once it has.
    var end: Aloft_V1_Result? { state.withLock { $0.end } }

    /// Waits until a delivery after `generation`, a connection failure, or cancellation.
    func waitForArrival(after generation: UInt64) async throws {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.generation != generation || state.failure != nil || state.end != nil || Task.isCancelled {
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
        if let failure = state.withLock({ $0.failure }) { throw failure }
        try Task.checkCancellation()
    }
}

/// Routes pushed `CallOutputs` to the map or generator call they belong to.
final class PushedOutputRouter: Sendable {
    static let shared = PushedOutputRouter()
    private static let printQueue = DispatchQueue(label: "aloft.container-output")
    /// Calls by id, with the key of the connection their outputs arrive on.
    private let maps = Mutex<[String: (connection: String, results: PushedOutputs)]>([:])

    /// Creates a call whose outputs are pushed to this connection (a map or a generator), routing them to the
    /// returned results before the request goes out, so that none is missed.
    func createCall(
        on connection: WireConnection, functionID: UInt64, kind: Aloft_V1_CallKind, inputs: [Aloft_V1_Input],
        last: Bool,
        results: PushedOutputs = PushedOutputs()
    ) async throws -> (callID: String, results: PushedOutputs) {
        let callID = CallID.make()
        maps.withLock { $0[callID] = (connection.key, results) }
        var create = Aloft_V1_CallCreate()
        create.functionID = functionID
        create.kind = kind
        create.callID = callID
        create.inputs = inputs
        create.last = last
        do {
            _ = try await connection.request(.callCreate(create))
        } catch {
            unregister(callID)
            throw error
        }
        return (callID, results)
    }
    func unregister(_ callID: String) { maps.withLock { $0[callID] = nil } }

    func route(_ envelope: Aloft_V1_Envelope) {
        switch envelope.body {
        case .callOutputs(let outputs):
            maps.withLock { $0[outputs.callID] }?.results.receive(outputs.outputs)
        case .containerOutput(let output):
            // Followed container output (`aloft run`): printed as the container printed it, off the event loop (a
            // full terminal pipe must not stall calls).
            Self.printQueue.async {
                let handle = output.standardError ? FileHandle.standardError : FileHandle.standardOutput
                try? handle.write(contentsOf: output.data)
            }
        default:
            break
        }
    }

    /// Fails the calls whose outputs were to arrive on the connection cached under `key`, which closed.
    func connectionClosed(_ key: String) {
        let affected = maps.withLock { $0.values.filter { $0.connection == key }.map(\.results) }
        for results in affected {
            results.fail(
                AloftError(.connectionFailed, "the connection to the control plane closed during a map or generator"))
        }
    }
}
