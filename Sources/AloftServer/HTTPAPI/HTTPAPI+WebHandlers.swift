import AloftControlPlane
import AloftCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore

// Raw web handlers (`app.webHandler`): every method and every path below `/<workspace>/<app>/<label>` runs one input
// of the handler's generator. Its first item is the response's head; the response is sent as soon as it arrives, and
// each later item is written to the client as it comes (never redirected). A client that goes away cancels the call.

extension HTTPAPI {
    static func serveRaw(
        _ request: Request, target: WebTarget, subpath: [Substring], controlPlane: ControlPlane,
        maxPayloadBytes: Int
    ) async throws -> Response {
        var request = request
        let body = try await argument(of: &request, limit: maxPayloadBytes)
        let query = request.uri.query.map { "?\($0)" } ?? ""
        let head = WebRequestHead(
            method: request.method.rawValue, scheme: request.head.scheme, authority: request.head.authority,
            path: request.uri.description, subpath: "/" + subpath.joined(separator: "/") + query,
            headers: request.headers.map { [$0.name.rawName, $0.value] })
        var payload = try WebFraming.request(head: head, body: body)
        payload.append(0)  // a `Data` argument's marker (PayloadCodec)
        let (callID, items) = try await controlPlane.stream(
            workspace: target.workspace, app: target.app, function: target.label, payload: payload)
        var iterator = items.makeAsyncIterator()
        let first: Data?
        do {
            first = try await iterator.next()
        } catch {
            controlPlane.cancelStream(callID)  // a no-op when the handler's own failure ended the stream
            throw error
        }
        guard let first else {
            throw AloftError(.internalFailure, "web handler '\(target.label)' ended without a response")
        }
        let responseHead: WebResponseHead
        do {
            responseHead = try JSONDecoder().decode(WebResponseHead.self, from: first.dropLast())
        } catch {
            throw AloftError(.internalFailure, "web handler '\(target.label)' sent an unreadable response head")
        }
        var fields = HTTPFields()
        for pair in responseHead.headers where pair.count == 2 {
            if let name = HTTPField.Name(pair[0]) { fields.append(HTTPField(name: name, value: pair[1])) }
        }
        let status = HTTPResponse.Status(code: responseHead.status, reasonPhrase: responseHead.reason ?? "")
        let rest = UncheckedIterator(iterator)
        return Response(
            status: status, headers: fields,
            body: ResponseBody { writer in
                var iterator = rest.take()
                // A failure after the head ends the response early: the client sees a truncated body. A client
                // that went away fails the write, and the handler is cancelled.
                do {
                    while let chunk = try await iterator.next() {
                        try await writer.write(ByteBuffer(bytes: chunk.dropLast()))
                    }
                    try await writer.finish(nil)
                } catch {
                    controlPlane.cancelStream(callID)
                    throw error
                }
            })
    }
}

/// Hands the stream's iterator, already past the head, to the response body's writer, which runs once.
private final class UncheckedIterator: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<Data, any Error>.AsyncIterator?

    init(_ iterator: AsyncThrowingStream<Data, any Error>.AsyncIterator) {
        self.iterator = iterator
    }

    func take() -> AsyncThrowingStream<Data, any Error>.AsyncIterator {
        defer { iterator = nil }
        return iterator!
    }
}
