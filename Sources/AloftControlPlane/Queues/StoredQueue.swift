public import Foundation

/// A named queue of a workspace as a store keeps it, with its items (Queues/).
public struct StoredQueue: Sendable, Hashable {
    public var workspace: String
    public var name: String
    public var createdAt: Date
    /// Loaded with the queue, by partition and position; empty in a `putQueue` change.
    public var items: [StoredQueueItem]

    public init(workspace: String, name: String, createdAt: Date, items: [StoredQueueItem] = []) {
        self.workspace = workspace
        self.name = name
        self.createdAt = createdAt
        self.items = items
    }
}

/// One item: its partition, its position there (increasing from 1), its bytes, and when its partition expires
/// (as the put that brought it set it).
public struct StoredQueueItem: Sendable, Hashable {
    public var partition: String
    public var position: UInt64
    public var data: Data
    public var expiresAt: Date

    public init(partition: String, position: UInt64, data: Data, expiresAt: Date) {
        self.partition = partition
        self.position = position
        self.data = data
        self.expiresAt = expiresAt
    }
}
