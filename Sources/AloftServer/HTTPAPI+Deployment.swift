import AloftControlPlane
import AloftCore
import AloftWire
import Foundation
import Hummingbird
import NIOCore
import SwiftProtobuf

// The deployment half of the HTTP API (see `HTTPAPI` for the list of routes).
extension HTTPAPI {
    typealias WorkspaceCheck = @Sendable (Request, StoredToken.Kind) async throws -> String

    static func addDeployment(
        to router: Router<BasicRequestContext>, controlPlane: ControlPlane, artifacts: FileArtifactStore,
        workspace: @escaping WorkspaceCheck
    ) {
        router.put("/v1/artifacts/:digest") { request, context -> Response in
            do {
                let digest = try context.parameters.require("digest")
                let workspace = try await workspace(request, .client)
                let size = try await artifacts.store(digest: digest, workspace: workspace, body: request.body)
                return try object(.created, ["artifact": digest, "bytes": size])
            } catch {
                return failure(error)
            }
        }
        router.head("/v1/artifacts/:digest") { request, context -> Response in
            do {
                let workspace = try await workspace(request, .client)
                let digest = try context.parameters.require("digest")
                return Response(status: artifacts.path(of: digest, workspace: workspace) == nil ? .notFound : .ok)
            } catch {
                return failure(error)
            }
        }
        router.get("/v1/artifacts/:digest") { request, context -> Response in
            do {
                // Worker hosts fetch executables to run; a client may fetch what its workspace uploaded.
                let owner: String
                do {
                    owner = try await workspace(request, .worker)
                } catch let error as AloftError where error.code == .unauthenticated {
                    owner = try await workspace(request, .client)
                }
                let digest = try context.parameters.require("digest")
                guard let path = artifacts.path(of: digest, workspace: owner) else {
                    throw AloftError(.notFound, "no artifact \(digest)")
                }
                let body = try await FileIO().loadFile(path: path, context: context)
                return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
            } catch {
                return failure(error)
            }
        }
        router.post("/v1/apps/:app/deploy") { request, context -> Response in
            var request = request
            do {
                let app = try context.parameters.require("app")
                let workspace = try await workspace(request, .client)
                let body = try await collect(&request, upTo: 8 << 20, what: "a deployment")
                guard
                    let fields = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))
                        as? [String: Any],
                    let artifact = fields["artifact"] as? String, let manifestObject = fields["manifest"],
                    let manifestJSON = try? JSONSerialization.data(withJSONObject: manifestObject)
                else {
                    throw AloftError(.invalidArgument, #"the body must be {"artifact": "<sha256>", "manifest": {…}}"#)
                }
                let manifest = try AppManifest(json: manifestJSON)
                guard manifest.appName == app else {
                    throw AloftError(.invalidArgument, "the manifest is for app '\(manifest.appName)', not '\(app)'")
                }
                let version = try await controlPlane.deploy(
                    workspace: workspace, manifest: manifest, artifact: artifact)
                return try object(.created, ["app": app, "version": version])
            } catch {
                return failure(error)
            }
        }
        router.get("/v1/apps") { request, _ -> Response in
            do {
                let versions = try await controlPlane.appVersions(workspace: try await workspace(request, .client))
                let apps = Dictionary(grouping: versions, by: \.appName).sorted { $0.key < $1.key }.map {
                    name, versions -> [String: Any] in
                    [
                        "name": name,
                        "live_version": versions.first(where: \.live).map { $0.version as Any } ?? NSNull(),
                        "versions": versions.count,
                        "deployed_at": iso8601(versions.map(\.createdAt).max() ?? Date()),
                    ]
                }
                return try object(.ok, ["apps": apps])
            } catch {
                return failure(error)
            }
        }
        router.get("/v1/apps/:app/versions") { request, context -> Response in
            do {
                let app = try context.parameters.require("app")
                let versions = try await controlPlane.appVersions(workspace: try await workspace(request, .client))
                    .filter { $0.appName == app }
                guard !versions.isEmpty else { throw AloftError(.notFound, "no app '\(app)' was deployed here") }
                return try object(
                    .ok,
                    [
                        "versions": versions.map { version -> [String: Any] in
                            let manifest = try? AppManifest(stored: version.manifest)
                            return [
                                "version": version.version, "artifact": version.artifact, "live": version.live,
                                "deployed_at": iso8601(version.createdAt),
                                "functions": manifest?.functionNames ?? [],
                            ]
                        }
                    ])
            } catch {
                return failure(error)
            }
        }
        router.post("/v1/apps/:app/stop") { request, context -> Response in
            do {
                let app = try context.parameters.require("app")
                try await controlPlane.stopApp(workspace: try await workspace(request, .client), app: app)
                return try object(.ok, ["app": app, "stopped": true])
            } catch {
                return failure(error)
            }
        }
        router.post("/v1/apps/:app/rollback") { request, context -> Response in
            var request = request
            do {
                let app = try context.parameters.require("app")
                let workspace = try await workspace(request, .client)
                let body = try await collect(&request, upTo: 64 << 10, what: "a rollback")
                var target: Int?
                if body.readableBytes > 0 {
                    guard
                        let fields = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))
                            as? [String: Any],
                        let version = fields["version"] as? Int
                    else {
                        throw AloftError(.invalidArgument, #"the body must be empty or {"version": N}"#)
                    }
                    target = version
                }
                let version = try await controlPlane.rollback(workspace: workspace, app: app, to: target)
                return try object(.ok, ["app": app, "version": version])
            } catch {
                return failure(error)
            }
        }
    }

    private static func collect(_ request: inout Request, upTo limit: Int, what: String) async throws -> ByteBuffer {
        do {
            return try await request.collectBody(upTo: limit)
        } catch {
            throw AloftError(.payloadTooLarge, "the body of \(what) may be at most \(limit) bytes")
        }
    }

    private static func object(_ status: HTTPResponse.Status, _ value: [String: Any]) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private static func iso8601(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
