public import AloftCore
public import Foundation
import AloftWire
import Synchronization

/// The HTTP method a typed web endpoint answers.
public enum WebMethod: String, Sendable, CaseIterable {
    case get = "GET"
    case post = "POST"
    case put = "PUT"
    case patch = "PATCH"
    case delete = "DELETE"
}

/// An error a web endpoint's body throws to choose the response's status (400–599; others answer 500). The response
/// is `{"error": {"code": "remoteError", "message": <the error's description>, …}}`.
public protocol WebEndpointError: Error {
    var httpStatus: Int { get }
}

extension App {
    /// Declares a typed JSON web endpoint (Modal's `@modal.fastapi_endpoint`): `aloft server` serves it at
    /// `/<workspace>/<app>/<label>` once the app is deployed (or registered by a run against the server).
    ///
    /// Each request is one input of an ordinary function named `label`, with its containers, concurrency,
    /// autoscaling and timeout (never retried, as Modal's endpoints are not). A POST, PUT or PATCH body is the
    /// argument's JSON; a GET's or DELETE's query is decoded as a JSON object of its parameters (a value that reads as
    /// a JSON number, `true`, `false` or `null` is that; anything else a string). The result's JSON is the response
    /// body. A throw answers `{"error": …}` with the status of its `AloftError` code, or the one a `WebEndpointError`
    /// chooses. With `requiresAuth`, a request needs `Authorization: Bearer <client token of the workspace>`.
    public func webEndpoint<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ label: String, method: WebMethod = .post, requiresAuth: Bool = false, options: FunctionOptions = .init(),
        _ body: @escaping @Sendable (Input) async throws -> Output
    ) -> Function<Input, Output> {
        endpoint(label, method, requiresAuth, options, .async(body))
    }

    /// Declares a typed JSON web endpoint with a blocking body.
    public func webEndpoint<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ label: String, method: WebMethod = .post, requiresAuth: Bool = false, options: FunctionOptions = .init(),
        _ body: @escaping @Sendable (Input) throws -> Output
    ) -> Function<Input, Output> {
        endpoint(label, method, requiresAuth, options, .blocking(body))
    }

    /// Declares a web endpoint without an argument (a GET, by default).
    public func webEndpoint<Output: Codable & Sendable>(
        _ label: String, method: WebMethod = .get, requiresAuth: Bool = false, options: FunctionOptions = .init(),
        _ body: @escaping @Sendable () async throws -> Output
    ) -> Function<NoArguments, Output> {
        endpoint(label, method, requiresAuth, options, .async { _ in try await body() })
    }

    private func endpoint<Input, Output>(
        _ label: String, _ method: WebMethod, _ requiresAuth: Bool, _ options: FunctionOptions,
        _ body: FunctionBody<Input, Output>
    ) -> Function<Input, Output> {
        var options = options
        options.retries = .none
        var function = Function(name: label, app: self, options: options, body: body)
        function.webEndpoint = WebEndpointSpec(method: method, requiresAuth: requiresAuth)
        return define(function)
    }
}

extension Function {
    /// The URL a web endpoint is served at (Modal's `get_web_url()`), as the server it runs on answers it: nil for a
    /// function that is not a web endpoint, and on the embedded default, which serves none. Registers the function
    /// (or, for `lookup`, finds the deployed one) if it was not yet.
    public func webURL() async throws -> URL? {
        _ = try await connectAndRegister()
        return registration.webURL.withLock { $0 }.flatMap(URL.init(string:))
    }
}

/// How a function is served over HTTP, as `App.webEndpoint` or `App.webHandler` declared it.
struct WebEndpointSpec: Sendable {
    /// The one method a typed endpoint answers; nil for a raw handler, which answers every method.
    var method: WebMethod?
    var requiresAuth: Bool
}
