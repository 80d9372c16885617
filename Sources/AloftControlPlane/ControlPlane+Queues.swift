package import AloftWire
import NIOCore

// Queues for the HTTP API (`/v1/queues`, `aloft queue`): the same requests the SDK sends on the wire.

extension ControlPlane {
    /// Runs one queue request for `workspace`. Nothing waits here: a get or put that finds no item or no room fails
    /// at once (an HTTP client that went away while waiting could otherwise take items nobody receives).
    package func queue(_ request: Aloft_V1_QueueRequest, workspace: String = "") async throws -> Aloft_V1_QueueReply {
        var request = request
        request.timeoutMs = 0
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: Aloft_V1_QueueReply.self)
        state.loop.execute { [request] in
            state.queueRequest(request, workspace: workspace, connection: nil) {
                promise.completeWith($0.mapError { $0 })
            }
        }
        return try await promise.futureResult.get()
    }
}
