import AloftCore
import AloftWire
import Logging
import NIOCore

// Deployed apps on the loop: a version's functions become live, an app stops, a stopped pool's backlog fails.

extension Scheduler {
    /// Registers a version's functions with the uploaded executable and makes it live; the app's functions that
    /// the version does not declare stop. Completes `promise` once the store has it all.
    func activate(
        workspace: String, manifest manifestValue: AppManifest, artifact: String, path: String, version: Int,
        new: StoredAppVersion?, promise: EventLoopPromise<Void>
    ) {
        loop.assertInEventLoop()
        let manifest = manifestValue.wire
        let declared = Set(
            manifest.functions.map {
                FunctionRegistry.poolKey(
                    workspace: workspace, app: manifest.appName,
                    pool: $0.poolName.isEmpty ? $0.functionName : $0.poolName)
            })
        // Functions the new version dropped stop; class and variant pools (never in a manifest) are left alone.
        for (key, pool) in registry.pools
        where pool.workspace == workspace && pool.appName == manifest.appName && !declared.contains(key)
            && pool.className.isEmpty && !pool.name.contains("#")
        {
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
        armSchedules(workspace: workspace, manifest: manifest)
        if let new { record(.putAppVersion(new)) }
        record(.setLiveVersion(workspace: workspace, appName: manifest.appName, version: version))
        logger.notice(
            "deployed app",
            metadata: [
                "aloft.app": "\(manifest.appName)", "aloft.version": "\(version)",
                "aloft.functions": "\(manifest.functions.count)",
            ])
        whenStored { promise.completeWith($0) }
    }

    func stopApp(workspace: String, appName: String, promise: EventLoopPromise<Void>) {
        loop.assertInEventLoop()
        for pool in registry.pools.values where pool.workspace == workspace && pool.appName == appName {
            stopPool(pool, reason: "app '\(appName)' was stopped")
        }
        record(.deleteFunctions(workspace: workspace, appName: appName))
        disarmSchedules(workspace: workspace, appName: appName)
        record(.setLiveVersion(workspace: workspace, appName: appName, version: nil))
        logger.notice("stopped app", metadata: ["aloft.app": "\(appName)"])
        whenStored { promise.completeWith($0) }
    }

    /// A stopped pool takes no calls; what waits in its backlog fails with `notFound`, its containers drain and exit.
    private func stopPool(_ pool: FunctionPool, reason: String) {
        guard !pool.isStopped else { return }
        pool.state = .stopped(reason: reason)
        failQueued(of: pool)
        for container in pool.containers.values { stop(container, grace: pool.timeout) }
    }

    /// Fails what waits in a stopped pool's backlog: queued when it stopped, or put back later (a retry, a lost
    /// container).
    func failQueued(of pool: FunctionPool) {
        guard case .stopped(let reason) = pool.state else { return }
        let error = AloftError(.notFound, reason)
        while let inputID = pool.pending.popFirst() {
            guard let input = inputs.removeValue(forKey: inputID), !input.isAnswered else { continue }
            answer(input, with: .failure(.failure, error))
        }
    }
}
