public import Foundation

/// A named dict of a workspace as a store keeps it, with its entries (Dicts/).
public struct StoredDict: Sendable, Hashable {
    public var workspace: String
    public var name: String
    public var createdAt: Date
    /// Loaded with the dict; empty in a `putDict` change (entries are stored with `putDictEntries`).
    public var entries: [StoredDictEntry]

    public init(workspace: String, name: String, createdAt: Date, entries: [StoredDictEntry] = []) {
        self.workspace = workspace
        self.name = name
        self.createdAt = createdAt
        self.entries = entries
    }
}

/// One entry: its key and value as the SDK encoded them, and when it was last written.
public struct StoredDictEntry: Sendable, Hashable {
    public var key: Data
    public var value: Data
    public var touchedAt: Date

    public init(key: Data, value: Data, touchedAt: Date) {
        self.key = key
        self.value = value
        self.touchedAt = touchedAt
    }
}
