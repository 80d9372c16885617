public import AloftCore
public import Foundation
public import HTTPTypes

/// A request as a raw web handler (`App.webHandler`) gets it.
public struct WebRequest: Sendable {
    /// Method, scheme, authority, the path as received (with its query) and the header fields.
    public var head: HTTPRequest
    /// The part of the path below the endpoint's own, with the query: `/` for `/<workspace>/<app>/<label>` itself,
    /// `/items/7?full=1` for `/<workspace>/<app>/<label>/items/7?full=1`.
    public var subpath: String
    /// The request's body. The server reads it whole before the handler runs (up to the inline payload limit; a
    /// larger one is answered 413 and never reaches the handler).
    public var body: Data
}

/// A raw web handler's response: a head, then a body the handler may produce while it is sent.
public struct WebResponse: Sendable {
    public var head: HTTPResponse
    var writeBody: @Sendable (_ emit: (Data) throws -> Void) async throws -> Void

    /// A response with a body known up front.
    public init(_ head: HTTPResponse = HTTPResponse(status: .ok), body: Data = Data()) {
        self.head = head
        self.writeBody = { emit in try emit(body) }
    }

    /// A UTF-8 text response (`text/plain` unless the head names a content type).
    public init(_ head: HTTPResponse = HTTPResponse(status: .ok), text: String) {
        var head = head
        if head.headerFields[.contentType] == nil { head.headerFields[.contentType] = "text/plain; charset=utf-8" }
        self.init(head, body: Data(text.utf8))
    }

    /// A streamed response: each chunk is sent to the client as the sequence yields it (chunked transfer
    /// encoding). A throw after the head was sent ends the response early; the client sees a truncated body.
    public init<Body: AsyncSequence & Sendable>(_ head: HTTPResponse = HTTPResponse(status: .ok), streaming body: Body)
    where Body.Element == Data {
        self.head = head
        self.writeBody = { emit in
            for try await chunk in body { try emit(chunk) }
        }
    }

    /// A stream of Server-Sent Events: each string is one event's data (a string with newlines is sent as several
    /// `data:` lines of one event), `text/event-stream`, not cached.
    public static func serverSentEvents<Events: AsyncSequence & Sendable>(_ events: Events) -> WebResponse
    where Events.Element == String {
        var head = HTTPResponse(status: .ok)
        head.headerFields[.contentType] = "text/event-stream"
        head.headerFields[.cacheControl] = "no-cache"
        var response = WebResponse(head)
        response.writeBody = { emit in
            for try await event in events {
                let lines = event.split(separator: "\n", omittingEmptySubsequences: false)
                try emit(Data((lines.map { "data: \($0)\n" }.joined() + "\n").utf8))
            }
        }
        return response
    }
}

/// A raw web handler declared with `App.webHandler`.
public struct WebHandler: Sendable {
    public var name: String { generator.name }
    let generator: GeneratorFunction<Data, Data>

    /// The URL the handler is served at: see `Function.webURL()`.
    public func webURL() async throws -> URL? { try await generator.function.webURL() }
}

extension App {
    /// Declares a raw web handler (Modal's `@modal.asgi_app` / `@modal.web_server`): `aloft server` serves it at
    /// `/<workspace>/<app>/<label>` and every path below it, for every method, once the app is deployed (or
    /// registered by a run against the server).
    ///
    /// Each request is one input of a generator function named `label`, with its containers, concurrency,
    /// autoscaling and timeout (never retried). The handler gets the request's head and body and returns a
    /// response whose body is sent as it is produced: a streamed response is never redirected, and a handler still
    /// running at the function's timeout ends its response there. A throw before the response answers
    /// `{"error": …}` with the status of its `AloftError` code, or the one a `WebEndpointError` chooses. With
    /// `requiresAuth`, a request needs `Authorization: Bearer <client token of the workspace>`.
    @discardableResult
    public func webHandler(
        _ label: String, requiresAuth: Bool = false, options: FunctionOptions = .init(),
        _ handler: @escaping @Sendable (WebRequest) async throws -> WebResponse
    ) -> WebHandler {
        let spec = WebEndpointSpec(method: nil, requiresAuth: requiresAuth)
        let generator: GeneratorFunction<Data, Data> = defineGenerator(label, options: options, webEndpoint: spec) {
            data, emit in
            let (head, body) = try WebFraming.parseRequest(data)
            let response = try await handler(WebRequest(head: HTTPRequest(head), subpath: head.subpath, body: body))
            try emit(try JSONEncoder().encode(WebResponseHead(response.head)))
            try await response.writeBody { chunk in
                if !chunk.isEmpty { try emit(chunk) }
            }
        }
        return WebHandler(generator: generator)
    }
}

extension HTTPRequest {
    init(_ head: WebRequestHead) throws {
        guard let method = HTTPRequest.Method(head.method) else {
            throw AloftError(.invalidArgument, "a web handler's request has an invalid method '\(head.method)'")
        }
        var fields = HTTPFields()
        for pair in head.headers where pair.count == 2 {
            if let name = HTTPField.Name(pair[0]) { fields.append(HTTPField(name: name, value: pair[1])) }
        }
        self.init(method: method, scheme: head.scheme, authority: head.authority, path: head.path, headerFields: fields)
    }
}

extension WebResponseHead {
    init(_ response: HTTPResponse) {
        self.init(
            status: response.status.code, reason: response.status.reasonPhrase,
            headers: response.headerFields.map { [$0.name.rawName, $0.value] })
    }
}
