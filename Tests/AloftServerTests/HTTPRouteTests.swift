import AloftControlPlane
import AloftCore
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

@testable import AloftServer

/// The HTTP API's routes, each test body run twice: straight into the router (`.router`, no socket) and through a
/// live HTTP server (`.live`). Behind the routes runs a real control plane with an in-memory store and a container
/// runtime that starts nothing, so that everything up to starting a container is exercised; AloftTests calls the
/// API of a real `aloft server` whose functions run in container processes.
@Suite("HTTP routes")
struct HTTPRouteTests {
    static let setups: [TestingSetup] = [.router, .live]
    let client: HTTPFields = [.authorization: "Bearer client-token"]

    @Test("without a valid token every route is 401, with the API's JSON error", arguments: setups)
    func unauthenticated(_ setup: TestingSetup) async throws {
        try await withAPI(setup) { api in
            for token in ["", "Bearer nosuch", "Bearer worker-token"] {
                let headers: HTTPFields = token.isEmpty ? [:] : [.authorization: token]
                try await api.execute(uri: "/v1/apps", method: .get, headers: headers) { response in
                    #expect(response.status == .unauthorized)
                    #expect(errorCode(response) == "unauthenticated")
                }
            }
            // A worker token may fetch executables, nothing else; an unknown one is still refused there.
            try await api.execute(
                uri: "/v1/artifacts/\(String(repeating: "0", count: 64))", method: .get,
                headers: [.authorization: "Bearer worker-token"]
            ) { #expect($0.status == .notFound) }
            try await api.execute(uri: "/v1/artifacts/x", method: .get, headers: [.authorization: "Bearer nosuch"]) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test("upload, deploy, list, spawn, fetch a pending result, stop and roll back", arguments: setups)
    func deployAndCall(_ setup: TestingSetup) async throws {
        try await withAPI(setup) { api in
            let executable = ByteBuffer(string: "#!/bin/sh\nexit 0\n")
            let digest = SHA256.hash(data: Data(executable.readableBytesView)).map { String(format: "%02x", $0) }
                .joined()
            try await api.execute(uri: "/v1/artifacts/\(digest)", method: .head, headers: client) {
                #expect($0.status == .notFound)
            }
            try await api.execute(uri: "/v1/artifacts/\(digest)", method: .put, headers: client, body: executable) {
                #expect($0.status == .created)
            }
            try await api.execute(uri: "/v1/artifacts/\(digest)", method: .head, headers: client) {
                #expect($0.status == .ok)
            }
            let manifest = #"{"appName": "web", "functions": [{"appName": "web", "functionName": "square"}]}"#
            let deploy = ByteBuffer(string: #"{"artifact": "\#(digest)", "manifest": \#(manifest)}"#)
            try await api.execute(uri: "/v1/apps/web/deploy", method: .post, headers: client, body: deploy) {
                response in
                #expect(response.status == .created)
                #expect(json(response)["version"] as? Int == 1)
            }
            try await api.execute(uri: "/v1/apps/web/versions", method: .get, headers: client) { response in
                let versions = json(response)["versions"] as? [[String: Any]]
                #expect(versions?.first?["functions"] as? [String] == ["square"])
                #expect(versions?.first?["live"] as? Bool == true)
            }
            var callID = ""
            try await api.execute(
                uri: "/v1/apps/web/functions/square/spawn", method: .post, headers: client,
                body: ByteBuffer(string: "7")
            ) { response in
                #expect(response.status == .accepted)
                callID = json(response)["call_id"] as? String ?? ""
            }
            #expect(callID.hasPrefix("fc-"))
            try await api.execute(uri: "/v1/calls/\(callID)?timeout=0.1", method: .get, headers: client) { response in
                #expect(response.status == .accepted)
                #expect(json(response)["status"] as? String == "pending")
            }
            try await api.execute(uri: "/v1/apps/web/stop", method: .post, headers: client) {
                #expect($0.status == .ok)
            }
            try await api.execute(
                uri: "/v1/apps/web/functions/square/call", method: .post, headers: client, body: ByteBuffer(string: "7")
            ) { response in
                #expect(response.status == .notFound)
                #expect(errorCode(response) == "notFound")
            }
            try await api.execute(uri: "/v1/apps/web/rollback", method: .post, headers: client) { response in
                #expect(response.status == .ok)  // a stopped app's last version is live again
                #expect(json(response)["version"] as? Int == 1)
            }
        }
    }

    @Test("bad input gets the status of its error code", arguments: setups)
    func badInput(_ setup: TestingSetup) async throws {
        try await withAPI(setup) { api in
            let checks: [(String, HTTPRequest.Method, String?, HTTPResponse.Status, String)] = [
                ("/v1/apps/web/functions/nosuch/call", .post, "1", .notFound, "notFound"),
                ("/v1/calls/fc-nosuch", .get, nil, .notFound, "notFound"),
                ("/v1/calls/fc-nosuch?timeout=soon", .get, nil, .badRequest, "invalidArgument"),
                ("/v1/apps/web/deploy", .post, "{}", .badRequest, "invalidArgument"),
                (
                    "/v1/apps/web/deploy", .post, #"{"artifact": "ab", "manifest": {"appName": "other"}}"#, .badRequest,
                    "invalidArgument"
                ),
                ("/v1/apps/web/rollback", .post, #"{"version": "two"}"#, .badRequest, "invalidArgument"),
                ("/v1/apps/nosuch/versions", .get, nil, .notFound, "notFound"),
                (
                    "/v1/apps/web/functions/square/call", .post, String(repeating: "1", count: 1025), .contentTooLarge,
                    "payloadTooLarge"
                ),
            ]
            for (uri, method, body, status, code) in checks {
                try await api.execute(
                    uri: uri, method: method, headers: client, body: body.map { ByteBuffer(string: $0) }
                ) { response in
                    #expect(response.status == status, "\(method) \(uri)")
                    #expect(errorCode(response) == code, "\(method) \(uri)")
                }
            }
            // An unknown route is Hummingbird's own 404.
            try await api.execute(uri: "/nosuch", method: .get) { #expect($0.status == .notFound) }
        }
    }
}

// MARK: The API behind the routes

/// Runs `body` against the API of a running control plane, then stops it.
private func withAPI(
    _ setup: TestingSetup, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
)
    async throws
{
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aloft-routes-\(UUID().uuidString)")
        .path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let artifacts = FileArtifactStore(directory: directory)
    let authenticator = FixedTokens()
    let controlPlane = ControlPlane(
        configuration: .init(
            maxPayloadBytes: 1024, containerStopGrace: .milliseconds(100), containerRuntime: InertRuntime(),
            store: InMemoryStore(), authenticator: authenticator, artifacts: artifacts, runsContainersLocally: true))
    let running = Task { try await controlPlane.run() }
    defer { running.cancel() }
    _ = try await controlPlane.addresses()
    let router = HTTPAPI.router(
        controlPlane: controlPlane, authenticator: authenticator, artifacts: artifacts, maxPayloadBytes: 1024)
    try await Application(router: router).test(setup, body)
    running.cancel()
    _ = await running.result
}

private struct FixedTokens: ClientAuthenticator {
    func workspace(forToken token: String, kind: StoredToken.Kind) async throws -> String {
        switch (token, kind) {
        case ("client-token", .client), ("worker-token", .worker): return "main"
        default: throw AloftError(.unauthenticated, "this token is not known")
        }
    }
}

/// Starts nothing; a container it "started" exits when it is killed.
private struct InertRuntime: ContainerRuntime {
    struct Handle: ContainerHandle {
        let onExit: @Sendable (Int32) -> Void
        var processID: Int32? { nil }
        func terminate() {}
        func kill() { onExit(137) }
    }

    func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (Int32) -> Void) throws -> any ContainerHandle {
        Handle(onExit: onExit)
    }
}

private func json(_ response: TestResponse) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:]
}

private func errorCode(_ response: TestResponse) -> String? {
    (json(response)["error"] as? [String: Any])?["code"] as? String
}
