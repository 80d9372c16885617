import AloftControlPlane
import AloftCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The HTTP/JSON API: deployed functions for callers in any language.
///
///     POST /v1/apps/{app}/functions/{function}/call    body: the argument as JSON  ->  200 {"result": …}
///     POST /v1/apps/{app}/functions/{function}/spawn   body: the argument as JSON  ->  202 {"call_id": "fc-…"}
///     GET  /v1/calls/{call_id}?timeout=SECONDS                                      ->  200 {"result": …}
///                                                                        (not finished yet: 202 {"status": "pending"})
///
/// The argument is what the Swift SDK would encode: a function of one `Codable` argument takes that argument's JSON,
/// one of two takes `{"first": …, "second": …}`, one of none takes an empty body; a `Data` argument or result is a
/// base64 string. Failures are `{"error": {"code": …, "message": …}}` with a status that says who is at fault.
/// Every request needs `Authorization: Bearer <token>`; it works in the token's workspace.
///
/// Deployment (what `aloft deploy` and `aloft app` use):
///
///     PUT  /v1/artifacts/{sha256}        body: the executable      ->  201 {"artifact": …, "bytes": …}
///     HEAD /v1/artifacts/{sha256}                                  ->  200, or 404 when it was never uploaded
///     GET  /v1/artifacts/{sha256}        (worker or client token)  ->  200 the executable
///     POST /v1/apps/{app}/deploy         body: {"artifact": sha256, "manifest": {AppManifest as protobuf JSON}}
///                                                                  ->  201 {"app": …, "version": N}
///     GET  /v1/apps                                                ->  200 {"apps": [{"name", "live_version", "versions", "deployed_at"}]}
///     GET  /v1/apps/{app}/versions                                 ->  200 {"versions": [{"version", "artifact", "functions", "deployed_at", "live"}]}
///     POST /v1/apps/{app}/stop                                     ->  200 {"app": …, "stopped": true}
///     POST /v1/apps/{app}/rollback       body: {"version": N} or empty (the previous version)  ->  200 {"app": …, "version": N}
enum HTTPAPI {
    static func router(
        controlPlane: ControlPlane, authenticator: any ClientAuthenticator, artifacts: FileArtifactStore,
        maxPayloadBytes: Int
    ) -> Router<BasicRequestContext> {
        let router = Router()
        @Sendable func workspace(of request: Request, kind: StoredToken.Kind = .client) async throws -> String {
            let header = request.headers[.authorization] ?? ""
            let token =
                header.lowercased().hasPrefix("bearer ")
                ? String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces) : ""
            do {
                return try await authenticator.workspace(forToken: token, kind: kind)
            } catch let error as AloftError where error.code == .unauthenticated {
                throw error
            } catch {
                throw AloftError(.storeFailure, "the token could not be checked; try again")
            }
        }
        addDeployment(to: router, controlPlane: controlPlane, artifacts: artifacts, workspace: workspace)
        router.post("/v1/apps/:app/functions/:function/call") { request, context -> Response in
            var request = request
            let app = try context.parameters.require("app")
            let function = try context.parameters.require("function")
            do {
                let workspace = try await workspace(of: request)
                let payload = try await argument(of: &request, limit: maxPayloadBytes)
                return respond(
                    try await controlPlane.invoke(workspace: workspace, app: app, function: function, payload: payload))
            } catch {
                return failure(error)
            }
        }
        router.post("/v1/apps/:app/functions/:function/spawn") { request, context -> Response in
            var request = request
            let app = try context.parameters.require("app")
            let function = try context.parameters.require("function")
            do {
                let workspace = try await workspace(of: request)
                let payload = try await argument(of: &request, limit: maxPayloadBytes)
                let callID = try await controlPlane.spawn(
                    workspace: workspace, app: app, function: function, payload: payload)
                return json(.accepted, #"{"call_id":"\#(callID)"}"#)
            } catch {
                return failure(error)
            }
        }
        router.get("/v1/calls/:call") { request, context -> Response in
            let callID = try context.parameters.require("call")
            do {
                let workspace = try await workspace(of: request)
                var timeout: Duration? = .zero
                if let text = request.uri.queryParameters.get("timeout") {
                    guard let seconds = Double(text), seconds >= 0 else {
                        throw AloftError(.invalidArgument, "timeout must be a number of seconds, not '\(text)'")
                    }
                    timeout = .milliseconds(Int64(min(seconds, 3600) * 1000))
                }
                guard
                    let outcome = try await controlPlane.outcome(workspace: workspace, ofCall: callID, timeout: timeout)
                else {
                    return json(.accepted, #"{"status":"pending","call_id":"\#(callID)"}"#)
                }
                return respond(outcome)
            } catch {
                return failure(error)
            }
        }
        return router
    }

    /// The request body: the argument's JSON, unchanged (an empty body is no argument).
    private static func argument(of request: inout Request, limit: Int) async throws -> Data {
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch {
            throw AloftError(.payloadTooLarge, "the argument exceeds the inline payload limit of \(limit) bytes")
        }
        return Data(body.readableBytesView)
    }

    private static func respond(_ outcome: CallOutcome) -> Response {
        switch outcome {
        case .success(let payload):
            var body = ByteBuffer(string: #"{"result":"#)
            body.writeBytes(resultJSON(payload))
            body.writeString("}")
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        case .failure(let error):
            return failure(error)
        }
    }

    /// A result payload as JSON: the JSON the container encoded, `null` for none, a base64 string for `Data` (which
    /// travels as its bytes followed by a 0 byte).
    static func resultJSON(_ payload: Data) -> Data {
        if payload.isEmpty { return Data("null".utf8) }
        if payload.last == 0 { return Data(("\"" + payload.dropLast().base64EncodedString() + "\"").utf8) }
        return payload
    }

    static func failure(_ error: any Error) -> Response {
        let aloftError = error as? AloftError ?? AloftError(.invalidArgument, "\(error)")
        var fields: [String: String] = ["code": aloftError.code.rawValue, "message": aloftError.message]
        if let remote = aloftError.remote {
            fields["type"] = remote.typeName
            fields["function"] = remote.functionName
        }
        let body = (try? JSONSerialization.data(withJSONObject: ["error": fields], options: [.sortedKeys])) ?? Data()
        return Response(
            status: status(for: aloftError.code), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func status(for code: AloftError.Code) -> HTTPResponse.Status {
        switch code {
        case .notFound: .notFound
        case .unauthenticated: .unauthorized
        case .invalidArgument, .invalidConfiguration: .badRequest
        case .payloadTooLarge: .contentTooLarge
        case .timeout: .gatewayTimeout
        case .cancelled: .conflict
        case .connectionFailed, .storeFailure: .serviceUnavailable
        default: .internalServerError  // remoteError (the function threw), internalFailure
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
