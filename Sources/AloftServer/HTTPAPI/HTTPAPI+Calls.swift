import AloftControlPlane
import AloftCore
import Foundation
import Hummingbird
import NIOCore

// Calling deployed functions: call (wait for the result), spawn (get a call id), and fetch a spawned call's result.

extension HTTPAPI {
    static func addCalls(to routes: RouterGroup<APIRequestContext>, controlPlane: ControlPlane, maxPayloadBytes: Int) {
        routes.post("apps/:app/functions/:function/call") { request, context -> Response in
            var request = request
            let (app, function) = try (context.parameters.require("app"), context.parameters.require("function"))
            let payload = try await argument(of: &request, limit: maxPayloadBytes)
            return try respond(
                try await controlPlane.invoke(
                    workspace: context.workspace, app: app, function: function, payload: payload))
        }
        routes.post("apps/:app/functions/:function/spawn") { request, context -> Response in
            var request = request
            let (app, function) = try (context.parameters.require("app"), context.parameters.require("function"))
            let payload = try await argument(of: &request, limit: maxPayloadBytes)
            let callID = try await controlPlane.spawn(
                workspace: context.workspace, app: app, function: function, payload: payload)
            return json(.accepted, #"{"call_id":"\#(callID)"}"#)
        }
        routes.get("calls/:call") { request, context -> Response in
            let callID = try context.parameters.require("call")
            var timeout: Duration? = .zero
            if let text = request.uri.queryParameters.get("timeout") {
                guard let seconds = Double(text), seconds >= 0 else {
                    throw AloftError(.invalidArgument, "timeout must be a number of seconds, not '\(text)'")
                }
                timeout = .milliseconds(Int64(min(seconds, 3600) * 1000))
            }
            guard
                let outcome = try await controlPlane.outcome(
                    workspace: context.workspace, ofCall: callID, timeout: timeout)
            else {
                return json(.accepted, #"{"status":"pending","call_id":"\#(callID)"}"#)
            }
            return try respond(outcome)
        }
    }

    /// The request body: the argument's JSON, unchanged (an empty body is no argument).
    static func argument(of request: inout Request, limit: Int) async throws -> Data {
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch {
            throw AloftError(.payloadTooLarge, "the argument exceeds the inline payload limit of \(limit) bytes")
        }
        return Data(body.readableBytesView)
    }

    /// `{"result": …}`, or the call's error thrown for `ErrorResponses` to answer.
    private static func respond(_ outcome: CallOutcome) throws -> Response {
        switch outcome {
        case .success(let payload):
            var body = ByteBuffer(string: #"{"result":"#)
            body.writeBytes(resultJSON(payload))
            body.writeString("}")
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        case .failure(let error):
            throw error
        }
    }

    /// A result payload as JSON: the JSON the container encoded, `null` for none, a base64 string for `Data` (which
    /// travels as its bytes followed by a 0 byte).
    static func resultJSON(_ payload: Data) -> Data {
        if payload.isEmpty { return Data("null".utf8) }
        if payload.last == 0 { return Data(("\"" + payload.dropLast().base64EncodedString() + "\"").utf8) }
        return payload
    }
}
