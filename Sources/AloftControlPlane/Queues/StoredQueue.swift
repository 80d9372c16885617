import AloftWire
public import Foundation
import SwiftProtobuf

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

    /// `items` as one blob for a store's column: the wire's `QueueReply` with just its items (protobuf).
    public var encodedItems: Data {
        var reply = Aloft_V1_QueueReply()
        reply.items = items
        return (try? reply.serializedData()) ?? Data()  // repeated bytes always serialize
    }

    /// The items of an `encodedItems` blob; nil when it is not one.
    public static func decodeItems(_ data: Data) -> [Data]? {
        (try? Aloft_V1_QueueReply(serializedBytes: data))?.items
    }
}
