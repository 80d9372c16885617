/// The named secrets of every workspace, opened, for container starts on the scheduler's loop (a start must not
/// wait for the store). Filled from the store when the control plane starts and kept in step by creates and
/// deletes.
struct NamedSecrets {
    private var byWorkspace: [String: [String: [String: String]]] = [:]

    func values(of name: String, workspace: String) -> [String: String]? {
        byWorkspace[workspace]?[name]
    }

    mutating func set(_ values: [String: String], name: String, workspace: String) {
        byWorkspace[workspace, default: [:]][name] = values
    }

    mutating func remove(name: String, workspace: String) {
        byWorkspace[workspace]?[name] = nil
    }
}
