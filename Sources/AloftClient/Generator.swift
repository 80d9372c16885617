public import AloftCore
import AloftWire
import Foundation

/// A function whose body yields values (Modal's generator functions): the caller iterates the items as they arrive.
///
/// Generators have no `remote`, `spawn` or `map`, and are never retried or re-run: items may already have
/// reached the caller. A throw in the body reaches the caller after the items yielded before it.
public struct GeneratorFunction<Input: Codable & Sendable, Item: Codable & Sendable>: Sendable {
    public var name: String { function.name }
    public var app: App { function.app }
    public var options: FunctionOptions { function.options }
    /// Registration and the call path shared with plain functions.
    let function: Function<Input, Item>
    /// Runs the body, handing each item to `emit`.
    let body: (@Sendable (Input, _ emit: (Item) throws -> Void) async throws -> Void)?

    /// Runs the generator in a container and streams its items: `for try await item in f.remoteStream(x)`.
    /// Stopping the iteration early cancels the call.
    public func remoteStream(_ input: Input) -> GeneratorStream<Input, Item> {
        GeneratorStream(function: self, input: input)
    }
}

extension GeneratorFunction {
    /// A generator of an app deployed to a server, by app and generator name: `Function.lookup(app:name:)` for
    /// generators (Modal's `Function.from_name(...).remote_gen`). Lazy, like it: the first `remoteStream` fails with
    /// `notFound` when the app's live version has no such generator.
    ///
    /// - Parameter controlPlane: the server; default `ALOFT_CONTROL_PLANE` (and `ALOFT_TOKEN` for its token).
    public static func lookup(
        app: String, name: String, controlPlane: any ControlPlaneProvider = RemoteControlPlane.environment
    ) -> Self {
        GeneratorFunction(function: .lookup(app: app, name: name, controlPlane: controlPlane), body: nil)
    }
}

extension GeneratorFunction where Input == NoArguments {
    public func remoteStream() -> GeneratorStream<Input, Item> { remoteStream(NoArguments()) }
}

extension App {
    /// Declares a generator whose body returns an `AsyncSequence` (an `AsyncThrowingStream`, say).
    public func generator<Input: Codable & Sendable, Item: Codable & Sendable, Items: AsyncSequence & SendableMetatype>(
        _ name: String, options: FunctionOptions = .init(), _ body: @escaping @Sendable (Input) async throws -> Items
    ) -> GeneratorFunction<Input, Item> where Items.Element == Item {
        defineGenerator(name, options: options) { input, emit in
            for try await item in try await body(input) { try emit(item) }
        }
    }

    /// Declares a generator with a blocking body that returns a `Sequence`, read lazily on the container's thread.
    public func generator<Input: Codable & Sendable, Item: Codable & Sendable, Items: Sequence & SendableMetatype>(
        _ name: String, options: FunctionOptions = .init(), _ body: @escaping @Sendable (Input) throws -> Items
    ) -> GeneratorFunction<Input, Item> where Items.Element == Item {
        defineGenerator(name, options: options) { input, emit in
            for item in try body(input) { try emit(item) }
        }
    }

    /// A handle on a generator defined in the container executable, by name and types.
    public func lookupGenerator<Input: Codable & Sendable, Item: Codable & Sendable>(
        _ name: String, input: Input.Type = Input.self, item: Item.Type = Item.self, options: FunctionOptions = .init()
    ) -> GeneratorFunction<Input, Item> {
        GeneratorFunction(function: Function(name: name, app: self, options: options, body: nil), body: nil)
    }

    func defineGenerator<Input, Item>(
        _ name: String, options: FunctionOptions, webEndpoint: WebEndpointSpec? = nil,
        _ body: @escaping @Sendable (Input, (Item) throws -> Void) async throws -> Void
    ) -> GeneratorFunction<Input, Item> {
        var function = Function<Input, Item>(name: name, app: self, options: options, body: nil, isDefinition: true)
        function.webEndpoint = webEndpoint
        let generator = GeneratorFunction(function: function, body: body)
        ContainerFunctions.register(generator)
        declare { generator.function.registrationMessage() }
        return generator
    }
}

extension GeneratorFunction: ContainerInvocable {
    var batching: FunctionOptions.Batching? { nil }
    func prepareBatch(_ data: [Data], context: InputContext) -> PreparedBatch {
        .blocking {
            Array(
                repeating: .failure(.failure, AloftError(.invalidConfiguration, "generators are not batched")),
                count: data.count)
        }
    }

    func prepare(
        _ data: Data, context: InputContext, emitItem: @escaping @Sendable (UInt64, Data) throws -> Void
    ) -> PreparedInput {
        let input: Input
        switch function.argument(from: data, context: context) {
        case .success(let argument): input = argument
        case .failure(let undecodable): return undecodable.prepared
        }
        guard let body else {
            let result = function.failure(
                AloftError(.notFound, "'\(name)' is only looked up in this executable, not defined"), context)
            return .blocking { result }
        }
        let name = self.name
        let function = self.function
        return .async {
            var count: UInt64 = 0
            do {
                try await body(input) { item in
                    let encoded = try PayloadCodec.encode(item)
                    try PayloadCodec.checkSize(encoded, limit: context.maxPayloadBytes, what: "item of '\(name)'")
                    try emitItem(count, encoded)
                    count += 1
                }
                return .success([])
            } catch {
                return function.failure(error, context)
            }
        }
    }
}

/// The items of one generator call, as an `AsyncSequence`, or through ``blocking`` as a `Sequence` of `Result`s.
public struct GeneratorStream<Input: Codable & Sendable, Item: Codable & Sendable>: AsyncSequence {
    let function: GeneratorFunction<Input, Item>
    let input: Input

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(driver: GeneratorDriver(function: function, input: input))
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let driver: GeneratorDriver<Input, Item>
        public mutating func next() async throws -> Item? { try await driver.next() }
    }

    /// The blocking form: the items as `Result`s, read on the calling thread; a failure ends the sequence.
    public var blocking: BlockingResults<Item> {
        let driver = GeneratorDriver(function: function, input: input)
        return BlockingResults(asyncForm: "for try await item in \(function.name).remoteStream(…)", runsUserCode: false)
        {
            try await driver.next().map(UncheckedBox.init)
        }
    }
}

/// The caller's side of one generator call.
final class GeneratorDriver<Input: Codable & Sendable, Item: Codable & Sendable>: @unchecked Sendable {
    // Used by one iterating task at a time, like any iterator.
    let function: GeneratorFunction<Input, Item>
    private let input: Input
    private var connection: WireConnection?
    private var callID = ""
    private var results: PushedOutputs?
    private var nextIndex: UInt64 = 0
    private var finished = false

    init(function: GeneratorFunction<Input, Item>, input: Input) {
        self.function = function
        self.input = input
    }

    func next() async throws -> Item? {
        guard !finished else { return nil }
        do {
            if connection == nil { try await start() }
            while true {
                let (taken, generation) = results!.take(ordered: true, nextIndex: nextIndex)
                if let (_, result) = taken {
                    nextIndex += 1
                    return try Function<Input, Item>.decode(result, functionName: function.name)
                }
                if let end = results!.end {
                    finish(ended: true)
                    if end.status == .success { return nil }
                    _ = try Function<Input, Item>.decode(end, functionName: function.name)  // throws the failure
                    return nil
                }
                try await results!.waitForArrival(after: generation)
            }
        } catch {
            finish(ended: results?.end != nil)  // cancelled or broken mid-stream: stop the generator too
            throw error
        }
    }

    private func start() async throws {
        let (connection, functionID) = try await function.function.connectAndRegister()
        var wireInput = Aloft_V1_Input()
        wireInput.data = try function.function.encodeInput(input, limit: connection.maxPayloadBytes)
        self.connection = connection
        (callID, results) = try await PushedOutputRouter.shared.createCall(
            on: connection, functionID: functionID, kind: .generator, inputs: [wireInput], last: true)
    }

    private func finish(ended: Bool) {
        guard !finished else { return }
        finished = true
        guard !callID.isEmpty else { return }
        PushedOutputRouter.shared.unregister(callID)
        if !ended, let connection {  // abandoned mid-stream: stop the generator
            var cancel = Aloft_V1_CallCancel()
            cancel.callID = callID
            connection.send(.callCancel(cancel))
        }
    }

    deinit { finish(ended: false) }
}
