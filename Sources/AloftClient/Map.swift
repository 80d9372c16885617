import AloftCore
import AloftWire
import Foundation
import Logging
import Synchronization

extension Function {
    /// Modal's default: at most this many inputs of one map are sent and not yet consumed by the caller.
    public static var defaultMapWindow: Int { 1000 }
    /// `spawnMap` sends its inputs in chunks of at most 1,000 inputs or about this many bytes.
    static var spawnMapChunkBytes: Int { 32 << 20 }

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

    /// Queues the function for every input and returns once they are accepted, without waiting for results,
    /// which are dropped (Modal's `spawn_map`).
    public func spawnMap<Inputs: Sequence>(_ inputs: Inputs) async throws where Inputs.Element == Input {
        let (connection, functionID) = try await connectAndRegister()
        var create = Aloft_V1_CallCreate()
        create.functionID = functionID
        create.kind = .detached
        create.callID = CallID.make()
        create.traceContext = TraceContext.headers()
        _ = try await connection.request(.callCreate(create))
        var chunk: [Aloft_V1_Input] = []
        var chunkBytes = 0
        var index: UInt64 = 0
        func flush(last: Bool) async throws {
            try await put(chunk, last: last, callID: create.callID, on: connection)
            chunk.removeAll(keepingCapacity: true)
            chunkBytes = 0
        }
        for input in inputs {
            var wire = Aloft_V1_Input()
            wire.index = index
            wire.data = try encodeInput(input, limit: connection.maxPayloadBytes)
            chunkBytes += wire.data.count
            chunk.append(wire)
            index += 1
            if chunk.count == 1000 || chunkBytes >= Self.spawnMapChunkBytes { try await flush(last: false) }
        }
        try await flush(last: true)
    }
}

extension Function {
    /// Sends `inputs` of a detached call, one round trip per chunk (which keeps the caller paced). A chunk the
    /// control plane cannot hold yet (`resourceExhausted`: nothing of it was kept) goes again in halves, and a
    /// single input after a backoff (up to 30 s) until it is taken, as Modal's `spawn_map` does.
    fileprivate func put(
        _ inputs: [Aloft_V1_Input], last: Bool, callID: String, on connection: WireConnection
    ) async throws {
        var request = Aloft_V1_CallPutInputs()
        request.callID = callID
        request.inputs = inputs
        request.last = last
        var delay = Duration.milliseconds(100)
        while true {
            do {
                _ = try await connection.request(.callPutInputs(request))
                return
            } catch let error as AloftError where error.code == .resourceExhausted {
                if inputs.count > 1 {
                    let half = inputs.count / 2
                    try await put(Array(inputs[..<half]), last: false, callID: callID, on: connection)
                    try await put(Array(inputs[half...]), last: last, callID: callID, on: connection)
                    return
                }
                AloftRuntime.shared.logger.notice(
                    "spawnMap waits for the control plane to take more inputs",
                    metadata: ["aloft.function": "\(name)", "aloft.reason": "\(error.message)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
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
