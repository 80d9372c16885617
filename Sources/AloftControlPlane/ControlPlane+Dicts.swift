package import AloftWire
import NIOCore

// Dicts for the HTTP API (`/v1/dicts`, `aloft dict`): the same requests the SDK sends on the wire.

extension ControlPlane {
    /// Runs one dict request for `workspace`, as a wire client's would run (no ephemeral dicts: they live with a
    /// connection).
    package func dict(_ request: Aloft_V1_DictRequest, workspace: String = "") async throws -> Aloft_V1_DictReply {
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: Aloft_V1_DictReply.self)
        state.loop.execute {
            state.dictRequest(request, workspace: workspace, owner: nil) { promise.completeWith($0.mapError { $0 }) }
        }
        return try await promise.futureResult.get()
    }
}
