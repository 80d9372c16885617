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

/// A function as a container runs it: bytes in, a wire result out.
protocol ContainerInvocable: Sendable {
    var name: String { get }
    func invoke(_ data: Data, containerID: String, maxPayloadBytes: Int, executor: DedicatedThreadExecutor) -> Aloft_V1_Result
}

extension Function: ContainerInvocable {
    func invoke(_ data: Data, containerID: String, maxPayloadBytes: Int, executor: DedicatedThreadExecutor) -> Aloft_V1_Result {
        func failure(_ error: any Error) -> Aloft_V1_Result {
            if let error = error as? AloftError {
                var remote = Aloft_V1_RemoteError(error)
                if error.remote == nil {  // an Aloft failure of this body (a nested call's keeps its origin)
                    remote.functionName = name
                    remote.containerID = containerID
                    remote.typeName = String(reflecting: AloftError.self)
                }
                return .failure(.failure, remote)
            }
            var remote = Aloft_V1_RemoteError()
            remote.code = AloftError.Code.remoteError.rawValue
            remote.typeName = String(reflecting: type(of: error))
            remote.message = String(describing: error)
            remote.functionName = name
            remote.containerID = containerID
            if let (typeName, data) = ErrorRegistry.encode(error) {
                remote.typeName = typeName
                remote.encodedError = data
            }
            return .failure(.failure, remote)
        }
        let input: Input
        do {
            input = try PayloadCodec.decode(Input.self, from: data)
        } catch {
            return failure(AloftError(.invalidArgument, "could not decode the argument of '\(name)' as \(Input.self): \(error)"))
        }
        let output: Output
        do {
            switch body {
            case .blocking(let run):
                output = try run(input)
            case .async(let run):
                // Every async input runs as a task on the container's one executor thread.
                let result = BlockingResult<Output>()
                Task(executorPreference: executor) {
                    do { result.set(.success(try await run(input))) } catch { result.set(.failure(error)) }
                }
                output = try result.wait()
            case nil:
                return failure(AloftError(.notFound, "'\(name)' is only looked up in this executable, not defined"))
            }
        } catch {
            return failure(error)
        }
        do {
            let data = try PayloadCodec.encode(output)
            try PayloadCodec.checkSize(data, limit: maxPayloadBytes, what: "result of '\(name)'")
            return .success(Array(data))
        } catch {
            return failure(error as? AloftError ?? AloftError(.invalidArgument, "could not encode the result of '\(name)': \(error)"))
        }
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
/// The main thread does it all with blocking socket calls: it waits for an input, runs it (async bodies as tasks
/// on the container's one async executor thread), writes the result and waits again.
enum ContainerServer {
    static func run(containerID: String) -> Never {
        lineBufferStandardOutput()  // the control plane forwards our output line by line
        var logger = AloftRuntime.shared.logger
        logger[metadataKey: "aloft.container_id"] = "\(containerID)"
        let address = ProcessInfo.processInfo.environment[AloftEnvironment.controlPlaneAddress] ?? ""
        let socket: BlockingWireSocket
        let maxPayloadBytes: Int
        do {
            socket = try BlockingWireSocket(address: address)
            var hello = Aloft_V1_Hello()
            hello.protocolVersion = AloftLimits.protocolVersion
            hello.role = .container
            hello.containerID = containerID
            try socket.send(Aloft_V1_Envelope(requestID: 1, body: .hello(hello)))
            switch try socket.receive()?.body {
            case .helloReply(let reply): maxPayloadBytes = Int(reply.maxPayloadBytes)
            case .error(let error): throw AloftError(AloftError.Code(rawValue: error.code), error.message)
            default: throw AloftError(.protocolError, "the control plane at \(address) did not answer hello")
            }
        } catch {
            FileHandle.standardError.write(Data("aloft container \(containerID): \(error)\n".utf8))
            exit(1)
        }
        logger.debug("container serving")
        let asyncExecutor = DedicatedThreadExecutor(name: "aloft-async-inputs")
        serving: while true {
            let envelope: Aloft_V1_Envelope?
            do { envelope = try socket.receive() } catch {
                logger.error("reading from the control plane failed", metadata: ["aloft.error": "\(error)"])
                exit(1)
            }
            switch envelope?.body {
            case .inputDispatch(let input):
                var output = Aloft_V1_OutputPut()
                output.inputID = input.inputID
                output.result = run(input, containerID: containerID, maxPayloadBytes: maxPayloadBytes, executor: asyncExecutor)
                do { try socket.send(Aloft_V1_Envelope(requestID: 0, body: .outputPut(output))) } catch {
                    logger.error("sending a result to the control plane failed", metadata: ["aloft.error": "\(error)"])
                    exit(1)
                }
            case .containerStop?, nil:
                break serving
            default:
                continue
            }
        }
        logger.debug("container stopping")
        exit(0)
    }

    static func run(_ input: Aloft_V1_InputDispatch, containerID: String, maxPayloadBytes: Int, executor: DedicatedThreadExecutor) -> Aloft_V1_Result {
        guard let function = ContainerFunctions.named(input.functionName) else {
            let executable = CommandLine.arguments.first ?? "this executable"
            return .failure(.failure, AloftError(.notFound, """
                function '\(input.functionName)' is not declared in \(executable): declare every function at the top level \
                of main.swift, before app.main()
                """))
        }
        return function.invoke(input.data, containerID: containerID, maxPayloadBytes: maxPayloadBytes, executor: executor)
    }
}
