public import Foundation

/// A named queue of a workspace as a store keeps it, with its items (Queues/).
public struct StoredQueue: Sendable, Hashable {
    public var workspace: String
    public var name: String
    public var createdAt: Date
    /// Loaded with the queue, by partition and position; empty in a `putQueue` change.
    public var items: [StoredQueueItem]
    /// Loaded with the queue, oldest first; empty in a `putQueue` change.
    public var receipts: [StoredQueueReceipt]

    public init(
        workspace: String, name: String, createdAt: Date, items: [StoredQueueItem] = [],
        receipts: [StoredQueueReceipt] = []
    ) {
        self.workspace = workspace
        self.name = name
        self.createdAt = createdAt
        self.items = items
        self.receipts = receipts
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

/// What a put or get with a request id did, kept (for an hour) so that its retry after a lost reply is answered the
/// same way instead of putting again or taking more: a put's receipt has no items, a get's has the items it took.
/// Stored in the same transaction as the change it records.
public struct StoredQueueReceipt: Sendable, Hashable {
    public var id: String
    public var items: [Data]
    public var createdAt: Date

    public init(id: String, items: [Data], createdAt: Date) {
        self.id = id
        self.items = items
        self.createdAt = createdAt
    }

    /// `items` as one blob for a store's column: each item's length (4 bytes, big-endian), then its bytes.
    public var encodedItems: Data {
        var data = Data(capacity: items.reduce(0) { $0 + 4 + $1.count })
        for item in items {
            withUnsafeBytes(of: UInt32(item.count).bigEndian) { data.append(contentsOf: $0) }
            data.append(item)
        }
        return data
    }

    /// The items of an `encodedItems` blob; nil when it is not one.
    public static func decodeItems(_ data: Data) -> [Data]? {
        var items: [Data] = []
        var index = data.startIndex
        while index < data.endIndex {
            guard data.endIndex - index >= 4 else { return nil }
            let length = data[index..<index + 4].reduce(0) { $0 << 8 | Int($1) }
            index += 4
            guard data.endIndex - index >= length else { return nil }
            items.append(Data(data[index..<index + length]))
            index += length
        }
        return items
    }
}
