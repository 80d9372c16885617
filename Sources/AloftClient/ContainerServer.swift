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
enum ContainerServer {
    enum Work {
        case input(Aloft_V1_InputDispatch)
        case stop
    }

    /// A queue the main thread waits on; inputs arrive on the event loop.
    final class Inbox: @unchecked Sendable {
        private let condition = NSCondition()
        private var items: [Work] = []

        func put(_ work: Work) {
            condition.lock()
            items.append(work)
            condition.signal()
            condition.unlock()
        }

        func take() -> Work {
            condition.lock()
            defer { condition.unlock() }
            while items.isEmpty { condition.wait() }
            return items.removeFirst()
        }
    }

    static func run(containerID: String) -> Never {
        lineBufferStandardOutput()  // the control plane forwards our output line by line
        let runtime = AloftRuntime.shared
        var logger = runtime.logger
        logger[metadataKey: "aloft.container_id"] = "\(containerID)"
        let address = ProcessInfo.processInfo.environment[AloftEnvironment.controlPlaneAddress] ?? ""
        let inbox = Inbox()
        let connection: WireConnection
        do {
            connection = try runtime.runBlocking(asyncForm: "") {
                try await WireConnection.connect(
                    to: address, group: runtime.eventLoopGroup, role: .container, containerID: containerID,
                    onPush: { envelope in
                        switch envelope.body {
                        case .inputDispatch(let input): inbox.put(.input(input))
                        case .containerStop: inbox.put(.stop)
                        default: break
                        }
                    },
                    onClose: { inbox.put(.stop) }
                )
            }
        } catch {
            FileHandle.standardError.write(Data("aloft container \(containerID): \(error)\n".utf8))
            exit(1)
        }
        logger.debug("container serving")
        let asyncExecutor = DedicatedThreadExecutor(name: "aloft-async-inputs")
        // Inputs run one at a time on this, the main, thread (async bodies on `asyncExecutor`).
        while case .input(let input) = inbox.take() {
            var output = Aloft_V1_OutputPut()
            output.inputID = input.inputID
            if let function = ContainerFunctions.named(input.functionName) {
                output.result = function.invoke(input.data, containerID: containerID, maxPayloadBytes: connection.maxPayloadBytes, executor: asyncExecutor)
            } else {
                let executable = CommandLine.arguments.first ?? "this executable"
                output.result = .failure(.failure, AloftError(.notFound, """
                    function '\(input.functionName)' is not declared in \(executable): declare every function at the top level \
                    of main.swift, before app.main()
                    """))
            }
            connection.send(.outputPut(output))
        }
        logger.debug("container stopping")
        connection.close()
        exit(0)
    }
}
