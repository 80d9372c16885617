import AloftCore
import Foundation
import Hummingbird
import NIOCore

// The API's response bodies, and the one mapping from an error's code to an HTTP status.

extension HTTPAPI {
    /// `{"error": {"code", "message", "type"?, "function"?}}` with the status of its code.
    static func failure(_ error: any Error) -> Response {
        let aloftError = error as? AloftError ?? AloftError(.invalidArgument, "\(error)")
        var fields: [String: String] = ["code": aloftError.code.rawValue, "message": aloftError.message]
        if let remote = aloftError.remote {
            fields["type"] = remote.typeName
            fields["function"] = remote.functionName
        }
        let body = (try? JSONSerialization.data(withJSONObject: ["error": fields], options: [.sortedKeys])) ?? Data()
        // A web endpoint's body may choose its error's status (WebEndpointError), within 400-599.
        let chosen = aloftError.remote?.httpStatus.flatMap { (400...599).contains($0) ? $0 : nil }
        return Response(
            status: chosen.map { HTTPResponse.Status(code: $0) } ?? status(for: aloftError.code),
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Who is at fault, as HTTP says it.
    static func status(for code: AloftError.Code) -> HTTPResponse.Status {
        switch code {
        case .notFound: .notFound
        case .unauthenticated: .unauthorized
        case .invalidArgument, .invalidConfiguration: .badRequest
        case .payloadTooLarge: .contentTooLarge
        case .resourceExhausted: .tooManyRequests
        case .timeout: .gatewayTimeout
        case .cancelled, .alreadyExists, .queueEmpty, .queueFull: .conflict
        case .connectionFailed, .storeFailure: .serviceUnavailable
        default: .internalServerError  // remoteError (the function threw), internalFailure
        }
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func object(_ status: HTTPResponse.Status, _ value: [String: Any]) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A request body of at most `limit` bytes; a longer one is `payloadTooLarge`.
    static func collect(_ request: inout Request, upTo limit: Int, what: String) async throws -> ByteBuffer {
        do {
            return try await request.collectBody(upTo: limit)
        } catch {
            throw AloftError(.payloadTooLarge, "the body of \(what) may be at most \(limit) bytes")
        }
    }
}
