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

/// A function as a container runs it: bytes in, a wire result out.
protocol ContainerInvocable: Sendable {
    var name: String { get }
    func prepare(_ data: Data, context: InputContext) -> PreparedInput
}

extension Function: ContainerInvocable {
    func prepare(_ data: Data, context: InputContext) -> PreparedInput {
        let input: Input
        do {
            input = try PayloadCodec.decode(Input.self, from: data)
        } catch {
            let result = failure(AloftError(.invalidArgument, "could not decode the argument of '\(name)' as \(Input.self): \(error)"), context)
            return .blocking { result }
        }
        switch body {
        case .blocking(let run):
            return .blocking { self.result({ try run(input) }, context) }
        case .async(let run):
            return .async { await self.result(asyncBody: { try await run(input) }, context) }
        case nil:
            let result = failure(AloftError(.notFound, "'\(name)' is only looked up in this executable, not defined"), context)
            return .blocking { result }
        }
    }

    private func result(_ body: () throws -> Output, _ context: InputContext) -> Aloft_V1_Result {
        do { return encode(try body(), context) } catch { return failure(error, context) }
    }

    private func result(asyncBody body: () async throws -> Output, _ context: InputContext) async -> Aloft_V1_Result {
        do { return encode(try await body(), context) } catch { return failure(error, context) }
    }

    private func encode(_ output: Output, _ context: InputContext) -> Aloft_V1_Result {
        do {
            let data = try PayloadCodec.encode(output)
            try PayloadCodec.checkSize(data, limit: context.maxPayloadBytes, what: "result of '\(name)'")
            return .success(Array(data))
        } catch {
            return failure(error as? AloftError ?? AloftError(.invalidArgument, "could not encode the result of '\(name)': \(error)"), context)
        }
    }

    private func failure(_ error: any Error, _ context: InputContext) -> Aloft_V1_Result {
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
            AloftRuntime.shared.logger.warning("function declared twice; the last declaration wins", metadata: ["aloft.function": "\(function.name)"])
        }
    }

    static func named(_ name: String) -> (any ContainerInvocable)? {
        functions.withLock { $0[name] }
    }
}

/// The container side: receive inputs, run them, send results, until told to stop.
///
/// The main thread reads the socket with blocking calls. A container runs up to `maxInputs` inputs at once (the
/// function's `concurrent(maxInputs:)`): it takes a slot before it reads an input and frees it after the result is
/// sent. Blocking bodies run on the main thread when `maxInputs` is 1, else on a pool of `maxInputs` threads of
/// their own; async bodies always run as tasks on the container's one async executor thread, so nothing in them
/// runs in parallel.
enum ContainerServer {
    static func run(containerID: String) -> Never {
        lineBufferStandardOutput()  // the control plane forwards our output line by line
        let logger = {
            var logger = AloftRuntime.shared.logger
            logger[metadataKey: "aloft.container_id"] = "\(containerID)"
            return logger
        }()
        let address = ProcessInfo.processInfo.environment[AloftEnvironment.controlPlaneAddress] ?? ""
        let socket: BlockingWireSocket
        let context: InputContext
        let maxInputs: Int
        do {
            socket = try BlockingWireSocket(address: address)
            var hello = Aloft_V1_Hello()
            hello.protocolVersion = AloftLimits.protocolVersion
            hello.role = .container
            hello.containerID = containerID
            try socket.send(Aloft_V1_Envelope(requestID: 1, body: .hello(hello)))
            switch try socket.receive()?.body {
            case .helloReply(let reply):
                context = InputContext(containerID: containerID, maxPayloadBytes: Int(reply.maxPayloadBytes))
                maxInputs = max(1, Int(reply.maxInputs))
            case .error(let error): throw AloftError(AloftError.Code(rawValue: error.code), error.message)
            default: throw AloftError(.protocolError, "the control plane at \(address) did not answer hello")
            }
        } catch {
            FileHandle.standardError.write(Data("aloft container \(containerID): \(error)\n".utf8))
            exit(1)
        }
        logger.debug("container serving", metadata: ["aloft.max_inputs": "\(maxInputs)"])
        let asyncExecutor = DedicatedThreadExecutor(name: "aloft-async-inputs")
        let threads = maxInputs > 1 ? WorkerThreads(count: maxInputs) : nil
        let slots = DispatchSemaphore(value: maxInputs)

        @Sendable func finish(_ inputID: UInt64, _ result: Aloft_V1_Result) {
            var output = Aloft_V1_OutputPut()
            output.inputID = inputID
            output.result = result
            do { try socket.send(Aloft_V1_Envelope(requestID: 0, body: .outputPut(output))) } catch {
                logger.error("sending a result to the control plane failed", metadata: ["aloft.error": "\(error)"])
                exit(1)
            }
            slots.signal()
        }

        serving: while true {
            slots.wait()
            let envelope: Aloft_V1_Envelope?
            do { envelope = try socket.receive() } catch {
                logger.error("reading from the control plane failed", metadata: ["aloft.error": "\(error)"])
                exit(1)
            }
            switch envelope?.body {
            case .inputDispatch(let input):
                switch prepare(input, context: context) {
                case .blocking(let work):
                    if let threads {
                        threads.submit { finish(input.inputID, work()) }
                    } else {
                        finish(input.inputID, work())
                    }
                case .async(let work):
                    Task(executorPreference: asyncExecutor) { finish(input.inputID, await work()) }
                }
            case .containerStop?, nil:
                break serving
            default:
                slots.signal()
            }
        }
        // Stopping: let the inputs that are running finish and send their results, then exit.
        for _ in 1..<maxInputs { slots.wait() }  // the main thread already holds one slot
        logger.debug("container stopping")
        exit(0)
    }

    static func prepare(_ input: Aloft_V1_InputDispatch, context: InputContext) -> PreparedInput {
        guard let function = ContainerFunctions.named(input.functionName) else {
            let executable = CommandLine.arguments.first ?? "this executable"
            let result = Aloft_V1_Result.failure(.failure, AloftError(.notFound, """
                function '\(input.functionName)' is not declared in \(executable): declare every function at the top level \
                of main.swift, before app.main()
                """))
            return .blocking { result }
        }
        return function.prepare(input.data, context: context)
    }
}

/// A fixed pool of threads for the blocking bodies of a container's concurrent inputs: never the cooperative pool.
final class WorkerThreads: @unchecked Sendable {
    private let condition = NSCondition()
    private var work: [@Sendable () -> Void] = []

    init(count: Int) {
        for index in 0..<count {
            let thread = Thread { [unowned self] in self.runWork() }
            thread.name = "aloft-input-\(index)"
            thread.start()
        }
    }

    func submit(_ item: @escaping @Sendable () -> Void) {
        condition.lock()
        work.append(item)
        condition.signal()
        condition.unlock()
    }

    private func runWork() {
        while true {
            condition.lock()
            while work.isEmpty { condition.wait() }
            let item = work.removeFirst()
            condition.unlock()
            item()
        }
    }
}
