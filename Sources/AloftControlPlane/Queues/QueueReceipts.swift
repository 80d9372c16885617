import Foundation

extension Queues {
    /// What the puts and gets with a request id did on one queue, by id, oldest first (Scheduler+QueueReceipts.swift
    /// keeps and replays them). Used on the loop only.
    struct Receipts {
        private var byID: [String: StoredQueueReceipt] = [:]
        /// Ids oldest first, from `head`: the ones before it are forgotten, dropped once they are half the array.
        private var order: [String] = []
        private var head = 0
        /// The bytes of the items the receipts hold.
        private(set) var bytes = 0

        var count: Int { byID.count }

        subscript(id: String) -> StoredQueueReceipt? { byID[id] }

        /// Adds a receipt newer than every one held.
        mutating func add(_ receipt: StoredQueueReceipt) {
            byID[receipt.id] = receipt
            order.append(receipt.id)
            bytes += receipt.itemBytes
        }

        /// Forgets the oldest receipts while `condition` holds for the oldest one, the count and the bytes held;
        /// returns their ids.
        mutating func forgetOldest(
            while condition: (_ oldest: StoredQueueReceipt, _ count: Int, _ bytes: Int) -> Bool
        ) -> [String] {
            var forgotten: [String] = []
            while head < order.count, let oldest = byID[order[head]], condition(oldest, byID.count, bytes) {
                head += 1
                byID[oldest.id] = nil
                bytes -= oldest.itemBytes
                forgotten.append(oldest.id)
            }
            if head > order.count / 2 {
                order.removeFirst(head)
                head = 0
            }
            return forgotten
        }
    }
}

extension StoredQueueReceipt {
    var itemBytes: Int { items.reduce(0) { $0 + $1.count } }
}
