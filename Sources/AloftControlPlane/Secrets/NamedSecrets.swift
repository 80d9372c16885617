public import Foundation

/// What `aloft secret list` shows of a named secret: never its values.
public struct SecretInfo: Sendable, Hashable {
    public var name: String
    public var keys: [String]
    public var createdAt: Date
    public var updatedAt: Date
}

/// The named secrets of every workspace, opened, for container starts on the scheduler's loop (a start must not
/// wait for the store). Filled from the store when the control plane starts and kept in step by creates and
/// deletes.
struct NamedSecrets {
    struct Entry {
        var values: [String: String]
        var createdAt: Date
        var updatedAt: Date
    }

    private var byWorkspace: [String: [String: Entry]] = [:]

    func values(of name: String, workspace: String) -> [String: String]? {
        byWorkspace[workspace]?[name]?.values
    }

    func entry(_ name: String, workspace: String) -> Entry? {
        byWorkspace[workspace]?[name]
    }

    func list(workspace: String) -> [SecretInfo] {
        (byWorkspace[workspace] ?? [:]).map { name, entry in
            SecretInfo(
                name: name, keys: entry.values.keys.sorted(), createdAt: entry.createdAt, updatedAt: entry.updatedAt)
        }.sorted { $0.name < $1.name }
    }

    mutating func set(_ entry: Entry, name: String, workspace: String) {
        byWorkspace[workspace, default: [:]][name] = entry
    }

    mutating func remove(name: String, workspace: String) {
        byWorkspace[workspace]?[name] = nil
    }
}
