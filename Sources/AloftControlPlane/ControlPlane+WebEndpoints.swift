import AloftCore
import AloftWire
import NIOCore

// Web endpoints for the HTTP server (`/<workspace>/<app>/<label>`): which function answers a path, and how.

/// How a function is served over HTTP: the method it answers and whether a request needs a client token of its
/// workspace.
public struct WebEndpointInfo: Sendable, Hashable {
    public var method: String
    public var requiresAuth: Bool
}

extension ControlPlane {
    /// The web endpoint `function` of `app` in `workspace`, if that function is registered (deployed, or by a run of
    /// the app) and was declared with `app.webEndpoint`.
    public func webEndpoint(workspace: String, app: String, function: String) async throws -> WebEndpointInfo? {
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: WebEndpointInfo?.self)
        state.loop.execute {
            let endpoint = (try? state.registry.named(workspace: workspace, app: app, function: function))?.pool
                .definition.webEndpoint
            promise.succeed(endpoint.map { WebEndpointInfo(method: $0.method, requiresAuth: $0.requiresAuth) })
        }
        return try await promise.futureResult.get()
    }
}
