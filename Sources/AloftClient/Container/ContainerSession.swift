import AloftCore
import AloftWire
import Foundation
import Logging
import Synchronization

/// One container's life on the wire: it says hello, then reads inputs and cancellations and sends results until
/// the control plane stops it or the connection ends.
///
/// The thread that calls `serve()` only reads the socket (blocking calls), so that a cancellation or a stop reaches
/// the container while inputs run; `ContainerInputs` runs them, up to `maxInputs` at once. A container process runs
/// one session on its main thread (`ContainerServer`); AloftTesting runs sessions on threads of a test process.
package final class ContainerSession: Sendable {
    /// How a session ended.
    package enum End: Sendable {
        /// Stopped (`ContainerStop`, a drain, or the connection closed): it drained as the stop asked.
        case stopped
        /// Reading from the control plane failed.
        case failed(any Error)
    }

    package let containerID: String
    private let socket: BlockingWireSocket
    private let inputs: ContainerInputs
    private let logger: Logger
    /// Set by the first stop; later ones wait for its drain.
    private let stopping = Atomic(false)
    private let drained = DispatchSemaphore(value: 0)
    /// Set by `abort()`: nothing is waited for any more.
    private let aborted = Atomic(false)

    /// Connects to the control plane at `address` and says hello as container `containerID`. Throws when the
    /// control plane cannot be reached or does not welcome it.
    ///
    /// - Parameter callerProvider: where the bodies' own calls go, if not where the process's calls go (an
    ///   in-process container's bodies call the control plane that runs them).
    package init(containerID: String, address: String, callerProvider: (any ControlPlaneProvider)? = nil) throws {
        self.containerID = containerID
        var logger = AloftRuntime.shared.logger
        logger[metadataKey: "aloft.container_id"] = "\(containerID)"
        self.logger = logger
        socket = try BlockingWireSocket(address: address)
        let hello = Aloft_V1_Hello(role: .container, containerID: containerID)
        try socket.send(Aloft_V1_Envelope(requestID: 1, body: .hello(hello)))
        guard case .helloReply(let reply) = try socket.receive()?.replyBody() else {
            throw AloftError(.protocolError, "the control plane at \(address) did not answer hello")
        }
        let context = InputContext(containerID: containerID, maxPayloadBytes: Int(reply.maxPayloadBytes))
        let maxInputs = max(1, Int(reply.maxInputs))
        inputs = ContainerInputs(
            socket: socket, context: context, maxInputs: maxInputs, logger: logger, callerProvider: callerProvider)
        logger.debug("container serving", metadata: ["aloft.max_inputs": "\(maxInputs)"])
    }

    /// Serves until the session ends, on the calling thread.
    package func serve() -> End {
        while true {
            let envelope: Aloft_V1_Envelope?
            do { envelope = try socket.receive() } catch {
                if aborted.load(ordering: .relaxed) { return .stopped }
                logger.error("reading from the control plane failed", metadata: ["aloft.error": "\(error)"])
                return .failed(error)
            }
            switch envelope?.body {
            case .inputDispatch(let input): inputs.add(input)
            case .inputCancel(let cancel): inputs.cancel(cancel.inputIds)
            case .containerStop?:
                // Stopping: the inputs it was sent finish and send their results (the control plane kills the
                // container if that takes longer than its grace), then the session ends.
                logger.debug("container stopping")
                stop(startingWaiting: true, within: nil)
                return .stopped
            case nil:
                // The control plane went away: what runs may finish (its results have nowhere to go), within the
                // exit grace, so that no container outlives its control plane for long.
                stop(startingWaiting: false, within: .seconds(30))
                return .stopped
            default: continue
            }
        }
    }

    /// Drains the inputs: the running ones finish (and the waiting ones too, if `startingWaiting`) within `limit`.
    /// Only the first stop drains (a SIGTERM's, or the read loop's); a later one waits for that drain.
    package func stop(startingWaiting: Bool, within limit: Duration?) {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else {
            drained.wait()
            drained.signal()
            return
        }
        let limit = aborted.load(ordering: .relaxed) ? .zero : limit
        inputs.drain(startingWaiting: startingWaiting, within: limit)
        drained.signal()
    }

    /// Ends the session now, as SIGKILL ends a container process: the connection is shut down and nothing is
    /// drained. Bodies that still run finish on their threads; their results have nowhere to go.
    package func abort() {
        aborted.store(true, ordering: .relaxed)
        socket.shutdown()
    }
}
