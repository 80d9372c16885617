import Foundation

/// Every dict the control plane holds, named and ephemeral, with their entries in memory (a store, where there is
/// one, has every named dict's entries too; ephemeral ones are never stored). Used on the scheduler's loop only.
struct Dicts {
    struct Key: Hashable {
        var workspace: String
        var name: String
    }

    struct Entry {
        var value: Data
        /// The last read or write: an entry idle for `ControlPlaneConfiguration.dictEntryIdleExpiry` is removed.
        var touched: Date
    }

    final class Contents {
        var entries: [Data: Entry] = [:]
        let createdAt: Date
        /// The connection an ephemeral dict lives with.
        let owner: ObjectIdentifier?

        init(createdAt: Date, owner: ObjectIdentifier?) {
            self.createdAt = createdAt
            self.owner = owner
        }
    }

    private(set) var all: [Key: Contents] = [:]

    subscript(workspace: String, name: String) -> Contents? {
        all[Key(workspace: workspace, name: name)]
    }

    mutating func add(_ contents: Contents, workspace: String, name: String) {
        all[Key(workspace: workspace, name: name)] = contents
    }

    mutating func remove(workspace: String, name: String) {
        all[Key(workspace: workspace, name: name)] = nil
    }

    /// The named dicts of `workspace`, by name.
    func names(workspace: String) -> [String] {
        all.filter { $0.key.workspace == workspace && $0.value.owner == nil }.map(\.key.name).sorted()
    }

    /// Drops the ephemeral dicts of a connection that closed.
    mutating func dropEphemeral(ownedBy owner: ObjectIdentifier) {
        all = all.filter { $0.value.owner != owner }
    }
}

extension Data {
    /// Byte order, for paging through a dict's keys.
    static func precedes(_ a: Data, _ b: Data) -> Bool { a.lexicographicallyPrecedes(b) }
}
