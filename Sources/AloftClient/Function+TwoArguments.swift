public import AloftCore
import Foundation

/// The arguments of a two-argument function, sent as a JSON array `[first, second]`.
public struct ArgumentPair<First: Codable & Sendable, Second: Codable & Sendable>: Codable, Sendable {
    public var first: First
    public var second: Second

    public init(_ first: First, _ second: Second) {
        self.first = first
        self.second = second
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        first = try container.decode(First.self)
        second = try container.decode(Second.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(first)
        try container.encode(second)
    }
}

extension App {
    /// Declares a function of two arguments with a blocking body; call it with `remote(a, b)` or `starmap`.
    public func function<First, Second, Output: Codable & Sendable>(
        _ name: String, options: FunctionOptions = .init(), _ body: @escaping @Sendable (First, Second) throws -> Output
    ) -> Function<ArgumentPair<First, Second>, Output> {
        function(name, options: options) { (pair: ArgumentPair<First, Second>) throws -> Output in
            try body(pair.first, pair.second)
        }
    }

    /// Declares a function of two arguments with an async body.
    public func function<First, Second, Output: Codable & Sendable>(
        _ name: String, options: FunctionOptions = .init(),
        _ body: @escaping @Sendable (First, Second) async throws -> Output
    ) -> Function<ArgumentPair<First, Second>, Output> {
        function(name, options: options) { (pair: ArgumentPair<First, Second>) async throws -> Output in
            try await body(pair.first, pair.second)
        }
    }
}

extension Function {
    public func remote<First, Second>(_ first: First, _ second: Second) async throws -> Output
    where Input == ArgumentPair<First, Second> {
        try await remote(ArgumentPair(first, second))
    }

    public func remote<First, Second>(_ first: First, _ second: Second) throws -> Output
    where Input == ArgumentPair<First, Second> {
        try remote(ArgumentPair(first, second))
    }

    public func spawn<First, Second>(_ first: First, _ second: Second) async throws -> FunctionCall<Output>
    where Input == ArgumentPair<First, Second> {
        try await spawn(ArgumentPair(first, second))
    }

    public func spawn<First, Second>(_ first: First, _ second: Second) throws -> FunctionCall<Output>
    where Input == ArgumentPair<First, Second> {
        try spawn(ArgumentPair(first, second))
    }

    /// `map` over argument tuples (Modal's `starmap`): `f.starmap([(1, "a"), (2, "b")])`.
    public func starmap<Inputs: Sequence, First, Second>(
        _ inputs: Inputs, orderOutputs: Bool = true, window: Int = defaultMapWindow
    ) -> MapStream<LazyMapSequence<Inputs, Input>, Input, Output, Output>
    where Inputs.Element == (First, Second), Input == ArgumentPair<First, Second> {
        map(inputs.lazy.map { ArgumentPair($0.0, $0.1) }, orderOutputs: orderOutputs, window: window)
    }

    /// `starmap` with Modal's `return_exceptions`.
    public func starmap<Inputs: Sequence, First, Second>(
        _ inputs: Inputs, orderOutputs: Bool = true, returnExceptions: Bool, window: Int = defaultMapWindow
    ) -> MapStream<LazyMapSequence<Inputs, Input>, Input, Output, Result<Output, any Error>>
    where Inputs.Element == (First, Second), Input == ArgumentPair<First, Second> {
        map(
            inputs.lazy.map { ArgumentPair($0.0, $0.1) }, orderOutputs: orderOutputs,
            returnExceptions: returnExceptions, window: window)
    }
}
