import AloftCore

/// The functions registered with the scheduler and the pools that run them.
///
/// A pool is keyed `workspace/app/pool` (its pool name is the function's, or a class's or variant's); a function
/// of that pool is keyed `<pool key>#<function>` and has a numeric id that callers use. A class's methods share
/// their class's pool.
struct FunctionRegistry {
    /// Registered functions by id: the pool that runs each, and its name.
    private(set) var functions: [UInt64: (pool: FunctionPool, name: String)] = [:]
    private(set) var pools: [String: FunctionPool] = [:]
    private var ids: [String: UInt64] = [:]

    /// Pools are per workspace: two workspaces may each have an app of the same name.
    static func poolKey(workspace: String, app: String, pool: String) -> String {
        workspace.isEmpty ? "\(app)/\(pool)" : "\(workspace)/\(app)/\(pool)"
    }

    static func functionKey(poolKey: String, function: String) -> String {
        poolKey + "#" + function
    }

    /// A registered function, if `workspace` may use it (and its app is not stopped).
    func function(_ id: UInt64, in workspace: String) -> (pool: FunctionPool, name: String)? {
        guard let function = functions[id], function.pool.workspace == workspace, !function.pool.isStopped else {
            return nil
        }
        return function
    }

    /// Function `name` of app `appName` in `workspace`, deployed (or registered by a run of the app) and not
    /// stopped: for `Function.lookup` on the wire and for the HTTP API.
    func named(
        workspace: String, app appName: String, function name: String
    ) throws(AloftError)
        -> (id: UInt64, pool: FunctionPool, name: String)
    {
        let key = Self.functionKey(
            poolKey: Self.poolKey(workspace: workspace, app: appName, pool: name), function: name)
        guard let id = ids[key], let (pool, functionName) = function(id, in: workspace) else {
            throw AloftError(
                .notFound,
                "no function '\(name)' in app '\(appName)' is deployed here: deploy the app with `aloft deploy`")
        }
        return (id, pool, functionName)
    }

    func pool(forKey key: String) -> FunctionPool? { pools[key] }

    mutating func add(_ pool: FunctionPool, forKey key: String) {
        pools[key] = pool
    }

    /// The id function `key` already has, if any.
    func id(ofFunction key: String) -> UInt64? { ids[key] }

    mutating func bind(function key: String, name: String, id: UInt64, to pool: FunctionPool) {
        ids[key] = id
        functions[id] = (pool, name)
    }
}
