import AloftCore
import AloftWire
import Foundation
import Logging
import Synchronization

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
                            "could not decode input \(position) of a batch of '\(name)' as \(Input.self): \(PayloadCodec.describe(error))"
                        ),
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

    /// The argument of an input, or the answer of an input whose argument cannot be decoded (`invalidArgument`).
    func argument(from data: Data, context: InputContext) -> Result<Input, UndecodableInput> {
        do {
            return .success(try PayloadCodec.decode(Input.self, from: data))
        } catch {
            let message = "could not decode the argument of '\(name)' as \(Input.self): \(PayloadCodec.describe(error))"
            return .failure(UndecodableInput(result: failure(AloftError(.invalidArgument, message), context)))
        }
    }

    func prepare(
        _ data: Data, context: InputContext, emitItem: @escaping @Sendable (UInt64, Data) throws -> Void
    ) -> PreparedInput {
        let input: Input
        switch argument(from: data, context: context) {
        case .success(let argument): input = argument
        case .failure(let undecodable): return undecodable.prepared
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
        if let error = error as? any WebEndpointError { remote.httpStatus = UInt32(clamping: error.httpStatus) }
        if let (typeName, data) = ErrorRegistry.encode(error) {
            remote.typeName = typeName
            remote.encodedError = data
        }
        return .failure(.failure, remote)
    }
}

/// An input whose argument could not be decoded, and the failed result that answers it.
struct UndecodableInput: Error {
    let result: Aloft_V1_Result
    var prepared: PreparedInput {
        let result = result
        return .blocking { result }
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

extension ContainerFunctions {
    /// `input` decoded and ready to run; a function this executable does not declare answers `notFound`.
    static func prepare(
        _ input: Aloft_V1_InputDispatch, context: InputContext,
        emitItem: @escaping @Sendable (UInt64, Data) throws -> Void
    ) -> PreparedInput {
        guard let function = named(input.functionName) else {
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
