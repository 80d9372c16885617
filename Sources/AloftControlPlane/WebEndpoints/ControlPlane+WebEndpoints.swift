import AloftCore
import AloftWire
public import Foundation
import NIOCore

// Web endpoints for the HTTP server (`/<workspace>/<app>/<label>`): which function answers a path, and how.

/// How a function is served over HTTP: the method it answers and whether a request needs a client token of its
/// workspace.
public struct WebEndpointInfo: Sendable, Hashable {
    /// The one method a typed endpoint answers; empty for a raw handler.
    public var method: String
    public var requiresAuth: Bool
    /// A raw handler (`app.webHandler`): a generator whose first item is the response's head, then its body.
    public var isRaw: Bool
}

/// A web endpoint of an app, as the dashboard lists it.
public struct WebEndpointView: Sendable {
    public var label: String
    public var info: WebEndpointInfo
    /// Where this server serves it; nil where no HTTP port serves endpoints (the embedded default).
    public var url: String?
}

extension ControlPlane {
    /// The web endpoints of `app` in `workspace` that are served now (registered and not stopped), by label.
    public func webEndpoints(workspace: String, app: String) async throws -> [WebEndpointView] {
        let state = try runningScheduler()
        let found = try await state.loop.submit {
            state.registry.pools.values.filter { $0.workspace == workspace && $0.appName == app }
                .compactMap { pool -> (String, WebEndpointInfo)? in
                    if case .stopped = pool.state { return nil }
                    guard let endpoint = pool.definition.webEndpoint else { return nil }
                    return (
                        pool.name,
                        WebEndpointInfo(
                            method: endpoint.method, requiresAuth: endpoint.requiresAuth, isRaw: endpoint.raw)
                    )
                }
        }.get()
        return found.sorted { $0.0 < $1.0 }.map { label, info in
            WebEndpointView(
                label: label, info: info,
                url: configuration.webAddresses.url(workspace: workspace, app: app, label: label))
        }
    }

    /// The web endpoint `function` of `app` in `workspace`, if that function is registered (deployed, or by a run of
    /// the app) and was declared with `app.webEndpoint`.
    public func webEndpoint(workspace: String, app: String, function: String) async throws -> WebEndpointInfo? {
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: WebEndpointInfo?.self)
        state.loop.execute {
            let endpoint = (try? state.registry.named(workspace: workspace, app: app, function: function))?.pool
                .definition.webEndpoint
            promise.succeed(
                endpoint.map { WebEndpointInfo(method: $0.method, requiresAuth: $0.requiresAuth, isRaw: $0.raw) })
        }
        return try await promise.futureResult.get()
    }

    /// Runs generator `function` with one input and streams its items' payloads as they arrive; the stream ends
    /// with the generator (throwing its failure). A task cancelled while it waits for an item cancels the call, as
    /// `cancelStream` does.
    public func stream(
        workspace: String = "", app: String, function: String, payload: Data
    ) async throws -> (callID: String, items: AsyncThrowingStream<Data, any Error>) {
        let state = try runningScheduler()
        let (stream, continuation) = AsyncThrowingStream<Data, any Error>.makeStream()
        let promise = state.loop.makePromise(of: String.self)
        state.loop.execute {
            state.streamLocally(
                workspace: workspace, app: app, function: function, payload: payload,
                onOutput: { output in
                    guard output.done else {
                        continuation.yield(output.result.data)
                        return
                    }
                    switch CallOutcome(output.result) {
                    case .success: continuation.finish()
                    case .failure(let error): continuation.finish(throwing: error)
                    }
                }, promise: promise)
        }
        let callID = try await promise.futureResult.get()
        continuation.onTermination = { termination in
            guard case .cancelled = termination else { return }
            state.loop.execute { state.cancelLocally(callID: callID) }
        }
        return (callID, stream)
    }

    /// Cancels a call `stream` started, whose items nobody takes any more.
    public func cancelStream(_ callID: String) {
        guard let state = try? runningScheduler() else { return }
        state.loop.execute { state.cancelLocally(callID: callID) }
    }
}
