import AloftCore
public import AloftWire
public import Foundation
import Logging
import NIOCore
import SwiftProtobuf
import Synchronization

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
    public func deploy(workspace: String = "", manifest: Aloft_V1_AppManifest, artifact: String) async throws -> Int {
        let store = try deploymentStore()
        guard let path = configuration.artifacts?.path(of: artifact, workspace: workspace) else {
            throw AloftError(.notFound, "no executable with SHA-256 \(artifact) was uploaded to this server (aloft deploy uploads it first)")
        }
        try Self.validate(manifest)
        return try await deployments.run {
            let versions = try await store.appVersions(workspace: workspace).filter { $0.appName == manifest.appName }
            let version = (versions.map(\.version).max() ?? 0) + 1
            let record = StoredAppVersion(workspace: workspace, appName: manifest.appName, version: version, artifact: artifact,
                                          manifest: try manifest.serializedBytes(), createdAt: Date())
            try await activate(workspace: workspace, manifest: manifest, artifact: artifact, path: path, version: version, new: record)
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
                throw AloftError(.notFound, version.map { "app '\(app)' has no version \($0)" } ?? "app '\(app)' has no version before its live one")
            }
            guard let path = configuration.artifacts?.path(of: target.artifact, workspace: workspace) else {
                throw AloftError(.notFound, "the executable of version \(target.version) of '\(app)' is no longer in the artifact store")
            }
            let manifest = try Aloft_V1_AppManifest(serializedBytes: target.manifest)
            try await activate(workspace: workspace, manifest: manifest, artifact: target.artifact, path: path, version: target.version, new: nil)
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
                throw AloftError(.notFound, versions.isEmpty ? "no app '\(app)' was deployed here" : "app '\(app)' is already stopped")
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
            throw AloftError(.invalidConfiguration, "apps can be deployed only to a control plane with a store (aloft server)")
        }
        return store
    }

    private func activate(workspace: String, manifest: Aloft_V1_AppManifest, artifact: String, path: String, version: Int,
                          new: StoredAppVersion?) async throws {
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: Void.self)
        state.loop.execute {
            state.activate(workspace: workspace, manifest: manifest, artifact: artifact, path: path, version: version, new: new, promise: promise)
        }
        try await promise.futureResult.get()
    }

    static func validate(_ manifest: Aloft_V1_AppManifest) throws {
        guard !manifest.appName.isEmpty else { throw AloftError(.invalidArgument, "the manifest names no app") }
        guard !manifest.functions.isEmpty else {
            throw AloftError(.invalidArgument, "app '\(manifest.appName)' declares no functions: nothing to deploy")
        }
        for function in manifest.functions where function.appName != manifest.appName || function.functionName.isEmpty {
            throw AloftError(.invalidArgument, "function '\(function.functionName)' of the manifest does not belong to app '\(manifest.appName)'")
        }
    }
}

extension ControlPlaneState {
    /// Registers a version's functions with the uploaded executable and makes it live; the app's functions that
    /// the version does not declare stop. Completes `promise` once the store has it all.
    func activate(workspace: String, manifest: Aloft_V1_AppManifest, artifact: String, path: String, version: Int,
                  new: StoredAppVersion?, promise: EventLoopPromise<Void>) {
        let declared = Set(manifest.functions.map { Self.poolKey(workspace: workspace, app: manifest.appName, pool: $0.poolName.isEmpty ? $0.functionName : $0.poolName) })
        // Functions the new version dropped stop; class and variant pools (never in a manifest) are left alone.
        for (key, pool) in poolsByKey where pool.workspace == workspace && pool.appName == manifest.appName && !declared.contains(key)
            && pool.className.isEmpty && !pool.name.contains("#") {
            stopPool(pool, reason: "function '\(pool.name)' is not in version \(version) of app '\(manifest.appName)'")
        }
        record(.deleteFunctions(workspace: workspace, appName: manifest.appName))
        for var function in manifest.functions {
            function.executable = path
            function.artifact = artifact
            function.isDefinition = true
            function.deployed = true
            _ = register(function, workspace: workspace, functionID: nil, persist: true, replacing: true)
        }
        if let new { record(.putAppVersion(new)) }
        record(.setLiveVersion(workspace: workspace, appName: manifest.appName, version: version))
        logger.notice("deployed app", metadata: [
            "aloft.app": "\(manifest.appName)", "aloft.version": "\(version)", "aloft.functions": "\(manifest.functions.count)",
        ])
        whenStored { promise.completeWith($0) }
    }

    func stopApp(workspace: String, appName: String, promise: EventLoopPromise<Void>) {
        for pool in poolsByKey.values where pool.workspace == workspace && pool.appName == appName {
            stopPool(pool, reason: "app '\(appName)' was stopped")
        }
        record(.deleteFunctions(workspace: workspace, appName: appName))
        record(.setLiveVersion(workspace: workspace, appName: appName, version: nil))
        logger.notice("stopped app", metadata: ["aloft.app": "\(appName)"])
        whenStored { promise.completeWith($0) }
    }

    /// A stopped pool takes no calls; what waits in its backlog fails with `notFound`, its containers drain and exit.
    private func stopPool(_ pool: FunctionPool, reason: String) {
        guard !pool.stopped else { return }
        pool.stopReason = reason
        failQueued(of: pool)
        for container in pool.containers.values { stop(container, grace: pool.timeout) }
    }

    /// Fails what waits in a stopped pool's backlog: queued when it stopped, or put back later (a retry, a lost
    /// container).
    func failQueued(of pool: FunctionPool) {
        let error = AloftError(.notFound, pool.stopReason ?? "function '\(pool.name)' was stopped")
        while let inputID = pool.pending.popFirst() {
            guard let input = inputs.removeValue(forKey: inputID), !input.resolved else { continue }
            resolve(input, with: .failure(.failure, error))
        }
    }
}

/// Runs async operations one at a time, in the order they arrive.
final class SerialGate: Sendable {
    private let state = Mutex<(busy: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { continuation in
            let enter = state.withLock { state -> Bool in
                if state.busy {
                    state.waiting.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if enter { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard !state.waiting.isEmpty else {
                    state.busy = false
                    return nil
                }
                return state.waiting.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
