import AloftCore
import AloftWire
import Foundation

// Receipts: a put or get that carries a request id leaves a receipt (a get's holds the items it took), stored in the
// same transaction as its change. A repeat of the id (the SDK retries after a lost reply, across a server restart
// too) is answered from the receipt and puts or takes nothing, so neither a lost reply nor a retry duplicates or
// loses an item. Receipts live an hour, at most `maxQueueReceipts` per queue holding at most `maxQueueReceiptBytes`
// of items (the oldest go first).

extension Scheduler {
    static let queueReceiptLifetime: TimeInterval = 3_600
    static let maxQueueReceipts = 100_000
    static let maxQueueReceiptBytes = 64 << 20

    func checkRequestID(_ id: String) throws {
        guard id.utf8.count <= 64 else {
            throw AloftError(.invalidArgument, "a queue request id is 1 to 64 bytes, got \(id.utf8.count)")
        }
    }

    /// Answers `request` from its receipt if the same id came before; false when it did not (or has no id).
    func replayReceipt(
        of request: Aloft_V1_QueueRequest, in queue: Queues.Queue, stored: Bool, respond: @escaping Queues.Respond
    ) -> Bool {
        guard !request.requestID.isEmpty, let receipt = queue.receipts[request.requestID] else { return false }
        var reply = Aloft_V1_QueueReply()
        reply.items = receipt.items
        // What the first one changed may still be on its way to the store.
        self.reply(reply, whenStored: stored, respond: respond)
        return true
    }

    /// Keeps what `request` did under its id (nothing without one).
    func keepReceipt(
        of request: Aloft_V1_QueueRequest, items: [Data], in queue: Queues.Queue, key: Queues.Key, stored: Bool
    ) {
        guard !request.requestID.isEmpty else { return }
        let receipt = StoredQueueReceipt(id: request.requestID, items: items, createdAt: Date())
        queue.receipts[receipt.id] = receipt
        queue.receiptOrder.append(receipt.id)
        queue.receiptBytes += items.reduce(0) { $0 + $1.count }
        if stored { record(.putQueueReceipt(workspace: key.workspace, queue: key.name, receipt)) }
        if queue.receipts.count > Self.maxQueueReceipts || queue.receiptBytes > Self.maxQueueReceiptBytes {
            forgetReceipts(of: queue, key: key) { _ in
                queue.receipts.count > Self.maxQueueReceipts || queue.receiptBytes > Self.maxQueueReceiptBytes
            }
        }
    }

    /// Forgets the oldest receipts while `expired` says so.
    func forgetReceipts(
        of queue: Queues.Queue, key: Queues.Key, while expired: (StoredQueueReceipt) -> Bool
    ) {
        var forgotten: [String] = []
        while queue.receiptHead < queue.receiptOrder.count {
            let id = queue.receiptOrder[queue.receiptHead]
            guard let receipt = queue.receipts[id], expired(receipt) else { break }
            queue.receiptHead += 1
            queue.receipts[id] = nil
            queue.receiptBytes -= receipt.items.reduce(0) { $0 + $1.count }
            forgotten.append(id)
        }
        if queue.receiptHead > queue.receiptOrder.count / 2 {
            queue.receiptOrder.removeFirst(queue.receiptHead)
            queue.receiptHead = 0
        }
        if !forgotten.isEmpty, queue.owner == nil {
            record(.deleteQueueReceipts(workspace: key.workspace, queue: key.name, ids: forgotten))
        }
    }
}
