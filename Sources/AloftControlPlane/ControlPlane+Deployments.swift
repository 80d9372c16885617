import AloftCore
import AloftWire
import Foundation
import NIOCore
import SwiftProtobuf

/// Where deployed executables are kept, per workspace, named by the SHA-256 of their bytes. `aloft server` keeps
/// them as files in its data directory; worker hosts fetch them by that name.
public protocol ArtifactStore: Sendable {
    /// The local path of the executable whose SHA-256 (lowercase hex) is `digest`, if `workspace` uploaded it.
    func path(of digest: String, workspace: String) -> String?
}

// MARK: Deployed apps

extension ControlPlane {
    /// Registers `manifest`'s functions as a new version of its app, running the uploaded executable `artifact`,
    /// and makes it the live version: the app's running containers of an older version finish what they were sent
    /// and are replaced. Returns the version number (1, 2, ...).
    public func deploy(workspace: String = "", manifest: AppManifest, artifact: String) async throws -> Int {
        let store = try deploymentStore()
        try manifest.validate()
        guard let path = configuration.artifacts?.path(of: artifact, workspace: workspace) else {
            throw AloftError(
                .notFound,
                "no executable with SHA-256 \(artifact) was uploaded to this server (aloft deploy uploads it first)")
        }
        return try await deployments.run {
            let versions = try await store.appVersions(workspace: workspace).filter { $0.appName == manifest.appName }
            let version = (versions.map(\.version).max() ?? 0) + 1
            let record = StoredAppVersion(
                workspace: workspace, appName: manifest.appName, version: version, artifact: artifact,
                manifest: try manifest.stored, createdAt: Date())
            try await activate(
                workspace: workspace, manifest: manifest, artifact: artifact, path: path, version: version, new: record)
            return version
        }
    }

    /// Makes an earlier version live again (default: the one before the live version, or the last one of a stopped
    /// app). Returns the version now live.
    public func rollback(workspace: String = "", app: String, to version: Int? = nil) async throws -> Int {
        let store = try deploymentStore()
        return try await deployments.run {
            let versions = try await store.appVersions(workspace: workspace).filter { $0.appName == app }
            guard !versions.isEmpty else { throw AloftError(.notFound, "no app '\(app)' was deployed here") }
            let target: StoredAppVersion?
            if let version {
                target = versions.first { $0.version == version }
            } else if let live = versions.first(where: \.live) {
                target = versions.last { $0.version < live.version }
            } else {
                target = versions.last
            }
            guard let target else {
                throw AloftError(
                    .notFound,
                    version.map { "app '\(app)' has no version \($0)" }
                        ?? "app '\(app)' has no version before its live one")
            }
            guard let path = configuration.artifacts?.path(of: target.artifact, workspace: workspace) else {
                throw AloftError(
                    .notFound,
                    "the executable of version \(target.version) of '\(app)' is no longer in the artifact store")
            }
            let manifest = try AppManifest(stored: target.manifest)
            try await activate(
                workspace: workspace, manifest: manifest, artifact: target.artifact, path: path,
                version: target.version, new: nil)
            return target.version
        }
    }

    /// Stops an app: its functions take no more calls (they fail with `notFound`), its queued inputs fail, its
    /// containers finish what they run and exit. Deploying it again, or a rollback, starts it again.
    public func stopApp(workspace: String = "", app: String) async throws {
        let store = try deploymentStore()
        try await deployments.run {
            let versions = try await store.appVersions(workspace: workspace).filter { $0.appName == app }
            guard versions.contains(where: \.live) else {
                throw AloftError(
                    .notFound,
                    versions.isEmpty ? "no app '\(app)' was deployed here" : "app '\(app)' is already stopped")
            }
            let state = try runningScheduler()
            let promise = state.loop.makePromise(of: Void.self)
            state.loop.execute { state.stopApp(workspace: workspace, appName: app, promise: promise) }
            try await promise.futureResult.get()
        }
    }

    /// Every version of every app deployed in `workspace`, by app, then version.
    public func appVersions(workspace: String = "") async throws -> [StoredAppVersion] {
        try await deploymentStore().appVersions(workspace: workspace)
    }

    private func deploymentStore() throws -> any ControlPlaneStore {
        guard let store = configuration.store else {
            throw AloftError(
                .invalidConfiguration, "apps can be deployed only to a control plane with a store (aloft server)")
        }
        return store
    }

    private func activate(
        workspace: String, manifest: AppManifest, artifact: String, path: String, version: Int,
        new: StoredAppVersion?
    ) async throws {
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: Void.self)
        state.loop.execute {
            state.activate(
                workspace: workspace, manifest: manifest, artifact: artifact, path: path, version: version, new: new,
                promise: promise)
        }
        try await promise.futureResult.get()
    }
}
