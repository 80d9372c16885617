import AloftControlPlane
import AloftCore
import Hummingbird

// Executables in the artifact store, by SHA-256: uploaded by `aloft deploy`/`aloft run`, fetched by worker hosts.

extension HTTPAPI {
    static func addArtifactUploads(to routes: RouterGroup<APIRequestContext>, artifacts: FileArtifactStore) {
        routes.put("artifacts/:digest") { request, context -> Response in
            let digest = try context.parameters.require("digest")
            let size = try await artifacts.store(digest: digest, workspace: context.workspace, body: request.body)
            return try object(.created, ["artifact": digest, "bytes": size])
        }
        routes.head("artifacts/:digest") { _, context -> Response in
            let digest = try context.parameters.require("digest")
            return Response(status: artifacts.path(of: digest, workspace: context.workspace) == nil ? .notFound : .ok)
        }
    }

    static func addArtifactDownloads(to routes: RouterGroup<APIRequestContext>, artifacts: FileArtifactStore) {
        routes.get("artifacts/:digest") { _, context -> Response in
            let digest = try context.parameters.require("digest")
            guard let path = artifacts.path(of: digest, workspace: context.workspace) else {
                throw AloftError(.notFound, "no artifact \(digest)")
            }
            let body = try await FileIO().loadFile(path: path, context: context)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
        }
    }
}
