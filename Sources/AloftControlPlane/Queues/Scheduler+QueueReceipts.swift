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
        queue.receipts.add(receipt)
        if stored { record(.putQueueReceipt(workspace: key.workspace, queue: key.name, receipt)) }
        forgetReceipts(of: queue, key: key) { _, count, bytes in
            count > Self.maxQueueReceipts || bytes > Self.maxQueueReceiptBytes
        }
    }

    /// Forgets the oldest receipts while `condition` holds (see `Queues.Receipts.forgetOldest`), in the store too.
    func forgetReceipts(
        of queue: Queues.Queue, key: Queues.Key,
        while condition: (_ oldest: StoredQueueReceipt, _ count: Int, _ bytes: Int) -> Bool
    ) {
        let forgotten = queue.receipts.forgetOldest(while: condition)
        if !forgotten.isEmpty, queue.owner == nil {
            record(.deleteQueueReceipts(workspace: key.workspace, queue: key.name, ids: forgotten))
        }
    }
}
