import AloftControlPlane
import AloftCore
import Foundation
import Hummingbird
import NIOCore

// Deployed apps: deploy a version, list apps and versions, stop an app, roll back to a version.

extension HTTPAPI {
    static func addApps(to routes: RouterGroup<APIRequestContext>, controlPlane: ControlPlane) {
        routes.post("apps/:app/deploy") { request, context -> Response in
            var request = request
            let app = try context.parameters.require("app")
            let body = try await collect(&request, upTo: 8 << 20, what: "a deployment")
            let (artifact, manifest) = try deployment(Data(body.readableBytesView), app: app)
            let version = try await controlPlane.deploy(
                workspace: context.workspace, manifest: manifest, artifact: artifact)
            // Each endpoint's URL, as `Function.webURL()` answers it.
            var endpoints: [String: String] = [:]
            for label in manifest.webEndpointNames {
                endpoints[label] = controlPlane.configuration.webAddresses.url(
                    workspace: context.workspace, app: app, label: label)
            }
            return try object(
                .created, ["app": app, "version": version, "workspace": context.workspace, "endpoints": endpoints])
        }
        routes.get("apps") { _, context -> Response in
            let versions = try await controlPlane.appVersions(workspace: context.workspace)
            let apps = Dictionary(grouping: versions, by: \.appName).sorted { $0.key < $1.key }.map {
                name, versions -> [String: Any] in
                [
                    "name": name,
                    "live_version": versions.first(where: \.live).map { $0.version as Any } ?? NSNull(),
                    "versions": versions.count,
                    "deployed_at": (versions.map(\.createdAt).max() ?? Date()).formatted(.iso8601),
                ]
            }
            return try object(.ok, ["apps": apps])
        }
        routes.get("apps/:app/versions") { _, context -> Response in
            let app = try context.parameters.require("app")
            let versions = try await controlPlane.appVersions(workspace: context.workspace).filter { $0.appName == app }
            guard !versions.isEmpty else { throw AloftError(.notFound, "no app '\(app)' was deployed here") }
            let listed = versions.map { version -> [String: Any] in
                [
                    "version": version.version, "artifact": version.artifact, "live": version.live,
                    "deployed_at": version.createdAt.formatted(.iso8601),
                    "functions": (try? AppManifest(stored: version.manifest))?.functionNames ?? [],
                ]
            }
            return try object(.ok, ["versions": listed])
        }
        routes.post("apps/:app/stop") { _, context -> Response in
            let app = try context.parameters.require("app")
            try await controlPlane.stopApp(workspace: context.workspace, app: app)
            return try object(.ok, ["app": app, "stopped": true])
        }
        routes.post("apps/:app/rollback") { request, context -> Response in
            var request = request
            let app = try context.parameters.require("app")
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
            let version = try await controlPlane.rollback(workspace: context.workspace, app: app, to: target)
            return try object(.ok, ["app": app, "version": version])
        }
    }

    /// The artifact and manifest of a deployment's body, `{"artifact": "<sha256>", "manifest": {…}}`, for `app`.
    private static func deployment(_ body: Data, app: String) throws -> (artifact: String, manifest: AppManifest) {
        guard
            let fields = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let artifact = fields["artifact"] as? String, let manifestObject = fields["manifest"],
            let manifestJSON = try? JSONSerialization.data(withJSONObject: manifestObject)
        else {
            throw AloftError(.invalidArgument, #"the body must be {"artifact": "<sha256>", "manifest": {…}}"#)
        }
        let manifest = try AppManifest(json: manifestJSON)
        guard manifest.appName == app else {
            throw AloftError(.invalidArgument, "the manifest is for app '\(manifest.appName)', not '\(app)'")
        }
        return (artifact, manifest)
    }
}
