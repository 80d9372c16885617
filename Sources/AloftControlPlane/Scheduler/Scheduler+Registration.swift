import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
import SwiftProtobuf

// Registering functions (a definition from a run of the app, a look-up, a deployment) and restoring them, with
// the calls that had not finished, from the store.

extension Scheduler {
    /// Registers a function and returns its id: `functionID` when restoring one from the store, else the id it
    /// already has, or a new one. `replacing`: a deployment, which stores the function even when nothing changed.
    func register(
        _ registration: Aloft_V1_FunctionRegister, workspace: String, functionID: UInt64?, persist: Bool,
        replacing: Bool = false
    ) -> UInt64 {
        var register = registration
        // An executable uploaded to the artifact store (`aloft run`, `aloft deploy`) runs from there, here or on a
        // worker host; an unknown hash falls back to the path the registration names.
        if !register.artifact.isEmpty {
            if let path = configuration.artifacts?.path(of: register.artifact, workspace: workspace) {
                register.executable = path
            } else {
                register.artifact = ""
            }
        }
        let poolName = register.poolName.isEmpty ? register.functionName : register.poolName
        let key = FunctionRegistry.poolKey(workspace: workspace, app: register.appName, pool: poolName)
        let (pool, changed) = pool(forKey: key, workspace: workspace, register: register)
        schedule(pool)
        let functionKey = FunctionRegistry.functionKey(poolKey: key, function: register.functionName)
        let known = registry.id(ofFunction: functionKey)
        let id = functionID ?? known ?? makeID()
        registry.bind(function: functionKey, name: register.functionName, id: id, to: pool)
        if persist && (changed || known == nil || replacing),
            let registration = try? sealedForStore(register).serializedBytes() as Data
        {
            record(
                .putFunction(
                    StoredFunction(
                        id: id, key: functionKey, workspace: workspace, appName: register.appName,
                        registration: registration)))
        }
        return id
    }

    /// The pool for `key`, made or redefined by `register`, and whether that changed what is stored of it.
    private func pool(
        forKey key: String, workspace: String, register: Aloft_V1_FunctionRegister
    ) -> (FunctionPool, Bool) {
        guard let existing = registry.pool(forKey: key) else {
            let pool = FunctionPool(
                id: makeID(), workspace: workspace, register: register,
                defaultMaxContainers: configuration.defaultMaxContainers)
            registry.add(pool, forKey: key)
            logger.debug(
                "registered function", metadata: ["aloft.function": "\(key)", "aloft.function_id": "\(pool.id)"])
            return (pool, true)
        }
        // A look-up handle (no body) uses the pool as it is; only a definition may change its options, and only a
        // deployment may change a deployed function.
        guard register.isDefinition && (register.deployed || !existing.deployed) else { return (existing, false) }
        let definition = FunctionPool.Definition(register)
        if !existing.definition.runsLike(definition) {
            // Containers keep the options they started with: new options get new containers, and the old ones
            // finish what they were sent and exit.
            for container in existing.containers.values { stop(container, grace: existing.timeout) }
        }
        let changed =
            !existing.definition.runsLike(definition) || existing.definition.arguments != definition.arguments
            || existing.isStopped || existing.deployed != register.deployed
        existing.deployed = register.deployed
        existing.definition = definition
        existing.state = .active
        return (existing, changed)
    }

    /// Resumes from what the store kept: functions, and the inputs of accepted calls that had not finished.
    func restore(_ stored: StoredState) {
        loop.assertInEventLoop()
        guard configuration.store != nil else { return }
        restoreSecrets(stored.secrets)
        restoreDicts(stored.dicts)
        restoreQueues(stored.queues)
        reserveIDs(upTo: stored.functions.map(\.id).max() ?? 0)
        for function in stored.functions {
            guard
                let registration = try? openedFromStore(
                    Aloft_V1_FunctionRegister(serializedBytes: function.registration))
            else {
                logger.error(
                    "a stored function could not be decoded; skipped", metadata: ["aloft.function": "\(function.key)"])
                continue
            }
            _ = register(registration, workspace: function.workspace, functionID: function.id, persist: false)
        }
        var resumed = 0
        for (stored, storedInputs) in stored.unfinishedCalls {
            guard let (pool, functionName) = registry.functions[stored.functionID], pool.workspace == stored.workspace,
                let kind = Aloft_V1_CallKind(rawValue: stored.kind), calls[stored.id] == nil
            else { continue }
            let call = CallRecord(id: stored.id, kind: kind, pool: pool, functionName: functionName)
            calls[call.id] = call
            for input in storedInputs {
                var wire = Aloft_V1_Input()
                wire.index = input.index
                wire.data = input.data
                addInput(wire, to: call, from: nil)
            }
            // Its caller's connection did not survive the restart, so no more inputs can come.
            call.closeInputs()
            resumed += storedInputs.count
            retireIfDone(call)
        }
        logger.info(
            "resumed from the store",
            metadata: [
                "aloft.functions": "\(stored.functions.count)", "aloft.calls": "\(stored.unfinishedCalls.count)",
                "aloft.inputs": "\(resumed)",
            ])
        for pool in registry.pools.values { schedule(pool) }
        restoreSchedules(stored.schedules)
    }
}
