import AloftCore
import NIOCore

// Named secrets of a workspace: `aloft secret create | list | delete` and `/v1/secrets` end here.

extension ControlPlane {
    /// Stores named secret `name` with `values` (at least one key), replacing one that exists only with `force`
    /// (`alreadyExists` otherwise). Containers started from now on get the new values; running ones keep theirs.
    public func createSecret(
        workspace: String = "", name: String, values: [String: String], force: Bool = false
    ) async throws {
        try Secret.validateName(name)
        guard !values.isEmpty else { throw AloftError(.invalidArgument, "secret \(name) needs at least one KEY=VALUE") }
        try Secret.fromDictionary(values).validate()
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: Void.self)
        state.loop.execute {
            state.putSecret(name, values: values, force: force, workspace: workspace, promise: promise)
        }
        try await promise.futureResult.get()
    }

    /// The named secrets of `workspace`: names, keys and dates, never values.
    public func secrets(workspace: String = "") async throws -> [SecretInfo] {
        let state = try runningScheduler()
        return try await state.loop.submit { state.secrets.list(workspace: workspace) }.get()
    }

    /// Deletes named secret `name`; `notFound` when there is none. Running containers keep their values.
    public func deleteSecret(workspace: String = "", name: String) async throws {
        let state = try runningScheduler()
        let promise = state.loop.makePromise(of: Void.self)
        state.loop.execute { state.deleteSecret(name, workspace: workspace, promise: promise) }
        try await promise.futureResult.get()
    }
}
