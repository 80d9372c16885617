import AloftControlPlane
import AloftCore
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore

// Web endpoints (`app.webEndpoint`): `/<workspace>/<app>/<label>` runs one input of the function and answers its
// result's JSON. A request still running after `redirectAfter` is answered `303 See Other` to a result URL, which
// waits as long again and answers the result or redirects once more (Modal's behaviour, so `curl -L` and browsers
// get the result).

/// The function a web request is for.
struct WebTarget {
    var workspace: String
    var app: String
    var label: String
}

extension HTTPAPI {
    static func addWebEndpoints(
        to router: Router<APIRequestContext>, controlPlane: ControlPlane, authenticator: any ClientAuthenticator,
        maxPayloadBytes: Int, redirectAfter: Duration
    ) {
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        for path in [":workspace/:app/:label", ":workspace/:app/:label/**"] {
            for method in methods {
                router.on(RouterPath(path), method: method) { request, context -> Response in
                    let workspace = try context.parameters.require("workspace")
                    let (app, label) = try (context.parameters.require("app"), context.parameters.require("label"))
                    let below = context.parameters.getCatchAll()
                    guard
                        let endpoint = try await controlPlane.webEndpoint(
                            workspace: workspace, app: app, function: label), endpoint.isRaw || below.isEmpty
                    else {
                        throw AloftError(
                            .notFound, "no web endpoint '\(label)' in app '\(app)' of workspace '\(workspace)'")
                    }
                    if endpoint.requiresAuth {
                        try await checkToken(request, workspace: workspace, authenticator: authenticator)
                    }
                    let target = WebTarget(workspace: workspace, app: app, label: label)
                    if endpoint.isRaw {
                        return try await serveRaw(
                            request, target: target, subpath: below, controlPlane: controlPlane,
                            maxPayloadBytes: maxPayloadBytes)
                    }
                    guard endpoint.method == request.method.rawValue else {
                        return json(
                            .methodNotAllowed,
                            #"{"error":{"code":"methodNotAllowed","message":"this endpoint answers \#(endpoint.method) only"}}"#
                        )
                    }
                    return try await serveTyped(
                        request, target: target, controlPlane: controlPlane, maxPayloadBytes: maxPayloadBytes,
                        redirectAfter: redirectAfter)
                }
            }
        }
        router.get("v1/web-results/:workspace/:call") { _, context -> Response in
            let (workspace, callID) = try (context.parameters.require("workspace"), context.parameters.require("call"))
            return try await answer(
                callID: callID, workspace: workspace, controlPlane: controlPlane, wait: redirectAfter)
        }
    }

    /// A typed endpoint's request: its argument is the body's JSON (a GET's or DELETE's query as an object).
    private static func serveTyped(
        _ request: Request, target: WebTarget, controlPlane: ControlPlane, maxPayloadBytes: Int,
        redirectAfter: Duration
    ) async throws -> Response {
        var request = request
        let payload =
            [.get, .delete].contains(request.method)
            ? try queryArgument(request.uri)
            : try await argument(of: &request, limit: maxPayloadBytes)
        let callID = try await controlPlane.spawn(
            workspace: target.workspace, app: target.app, function: target.label, payload: payload)
        return try await answer(
            callID: callID, workspace: target.workspace, controlPlane: controlPlane, wait: redirectAfter)
    }

    /// The call's result's JSON (200), its error, or — still running after `wait` — a 303 to its result URL. The
    /// call id is the only key to it, as for Modal's result URLs: ids are random and never reused.
    private static func answer(
        callID: String, workspace: String, controlPlane: ControlPlane, wait: Duration
    ) async throws -> Response {
        guard let outcome = try await controlPlane.outcome(workspace: workspace, ofCall: callID, timeout: wait) else {
            return Response(
                status: .seeOther, headers: [.location: "/v1/web-results/\(workspace)/\(callID)"],
                body: .init(byteBuffer: ByteBuffer()))
        }
        switch outcome {
        case .success(let payload):
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: resultJSON(payload))))
        case .failure(let error):
            throw error
        }
    }

    /// An endpoint with `requiresAuth` takes only a client token of its own workspace.
    static func checkToken(
        _ request: Request, workspace: String, authenticator: any ClientAuthenticator
    ) async throws {
        let header = request.headers[.authorization] ?? ""
        guard header.lowercased().hasPrefix("bearer ") else {
            throw AloftError(.unauthenticated, "this endpoint needs Authorization: Bearer <token>")
        }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        let owner: String
        do {
            owner = try await authenticator.workspace(forToken: token, kind: .client)
        } catch let error as AloftError where error.code == .unauthenticated {
            throw error
        } catch {
            throw AloftError(.storeFailure, "the token could not be checked; try again")
        }
        guard owner == workspace else {
            throw AloftError(.unauthenticated, "the token is not one of workspace '\(workspace)'")
        }
    }

    /// A GET's or DELETE's query as the JSON object of its parameters (no query: no argument).
    private static func queryArgument(_ uri: URI) throws -> Data {
        let parameters = uri.queryParameters
        guard !parameters.isEmpty else { return Data() }
        var object: [String: Any] = [:]
        for (key, value) in parameters {
            let text = String(value)
            if let number = Int(text) {
                object[String(key)] = number
            } else if let number = Double(text), number.isFinite {
                object[String(key)] = number
            } else if let literal = ["true": true, "false": false][text] {
                object[String(key)] = literal
            } else if text == "null" {
                object[String(key)] = NSNull()
            } else {
                object[String(key)] = text
            }
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}
