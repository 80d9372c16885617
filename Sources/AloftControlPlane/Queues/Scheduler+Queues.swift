import AloftCore
import AloftWire
import Foundation
import NIOCore

// Queues: FIFO per partition, on the loop. A put hands its items to waiting gets first (in their arrival order),
// never through polling; a get is answered once the store has removed what it takes, so an item goes to exactly
// one getter. Waiting gets and puts end at their timeout, when their connection closes, or when their queue goes.

extension Scheduler {
    static let maxQueueItemBytes = 1 << 20
    static let maxQueuePartitionItems = 5_000
    static let maxQueuePartitions = 100_000
    static let defaultPartitionTTL: Duration = .seconds(86_400)

    func queueRequest(
        _ request: Aloft_V1_QueueRequest, workspace: String, connection: ObjectIdentifier?,
        respond: @escaping Queues.Respond
    ) {
        loop.assertInEventLoop()
        do {
            var reply = Aloft_V1_QueueReply()
            switch request.op {
            case .list:
                reply.names = queues.names(workspace: workspace)
                return respond(.success(reply))
            case .createEphemeral:
                guard let connection else {
                    throw AloftError(.invalidArgument, "an ephemeral queue lives with a wire connection: use the SDK")
                }
                reply.name = "queue-ephemeral-" + randomHex()
                queues.add(Queues.Queue(createdAt: Date(), owner: connection), workspace: workspace, name: reply.name)
                return respond(.success(reply))
            default:
                break
            }
            let queue = try self.queue(request, workspace: workspace)
            let stored = queue.owner == nil
            let key = Queues.Key(workspace: workspace, name: request.name)
            switch request.op {
            case .put:
                try checkPartitionName(request.partition)
                try checkRequestID(request.requestID)
                if let tooBig = request.items.first(where: { $0.count > Self.maxQueueItemBytes }) {
                    throw AloftError(
                        .payloadTooLarge,
                        "a queue item of \(tooBig.count) bytes is over the limit of \(Self.maxQueueItemBytes)")
                }
                let waiter = Queues.Waiter(id: makeID(), connection: connection, request: request, respond: respond)
                if !tryPut(waiter, into: queue, key: key, stored: stored) {
                    try wait(waiter, in: queue, key: key, getting: false)
                }
            case .get:
                try checkPartitionName(request.partition)
                try checkRequestID(request.requestID)
                let waiter = Queues.Waiter(id: makeID(), connection: connection, request: request, respond: respond)
                if !tryGet(waiter, from: queue, key: key, stored: stored) {
                    try wait(waiter, in: queue, key: key, getting: true)
                }
            case .len:
                reply.count = UInt64(
                    request.total
                        ? queue.partitions.values.reduce(0) { $0 + $1.items.count }
                        : queue.partitions[request.partition]?.items.count ?? 0)
                respond(.success(reply))
            case .peek:
                let limit = request.maxItems == 0 ? 1_000 : Int(min(request.maxItems, 10_000))
                let items = (queue.partitions[request.partition]?.items ?? []).lazy.filter {
                    $0.position > request.after
                }
                .prefix(limit)
                reply.items = items.map(\.data)
                reply.next = items.last?.position ?? request.after
                respond(.success(reply))
            case .clear:
                let cleared = request.all ? Array(queue.partitions.keys) : [request.partition]
                for name in cleared {
                    reply.count += UInt64(queue.partitions[name]?.items.count ?? 0)
                    queue.partitions[name]?.items.removeAll()
                    if let partition = queue.partitions[name] { wakePutters(of: partition, queue: queue, key: key) }
                }
                if stored {
                    record(
                        .clearQueue(
                            workspace: workspace, name: request.name, partition: request.all ? nil : request.partition))
                }
                self.reply(reply, whenStored: stored, respond: respond)
            case .delete:
                _ = queues.remove(workspace: workspace, name: request.name)
                failWaiters(of: queue, AloftError(.notFound, "queue \(request.name) was deleted"))
                if stored { record(.deleteQueue(workspace: workspace, name: request.name)) }
                self.reply(reply, whenStored: stored, respond: respond)
            default:
                throw AloftError(.protocolError, "unknown queue operation \(request.op)")
            }
        } catch let error as AloftError {
            respond(.failure(error))
        } catch {
            respond(.failure(AloftError(.internalFailure, "\(error)")))
        }
    }

    /// Puts the waiter's items if its partition has room (and hands them to waiting gets); false when it has not.
    private func tryPut(_ waiter: Queues.Waiter, into queue: Queues.Queue, key: Queues.Key, stored: Bool) -> Bool {
        let request = waiter.request
        if replayReceipt(of: request, in: queue, stored: stored, respond: waiter.respond) { return true }
        let ttl = request.partitionTtlMs > 0 ? Duration.milliseconds(request.partitionTtlMs) : Self.defaultPartitionTTL
        let expiresAt = Date().addingTimeInterval(Double(ttl.wireMilliseconds) / 1000)
        if queue.partitions[request.partition] == nil {
            guard queue.partitions.count < Self.maxQueuePartitions else { return false }
            queue.partitions[request.partition] = Queues.Partition(expiresAt: expiresAt)
        }
        guard let partition = queue.partitions[request.partition],
            partition.items.count + request.items.count <= Self.maxQueuePartitionItems
        else { return false }
        partition.expiresAt = expiresAt
        var added: [StoredQueueItem] = []
        for data in request.items {
            partition.items.append((partition.nextPosition, data))
            added.append(
                StoredQueueItem(
                    partition: request.partition, position: partition.nextPosition, data: data, expiresAt: expiresAt))
            partition.nextPosition += 1
        }
        if stored { record(.putQueueItems(workspace: key.workspace, queue: key.name, added)) }
        keepReceipt(of: request, items: [], in: queue, key: key, stored: stored)
        reply(Aloft_V1_QueueReply(), whenStored: stored, respond: waiter.respond)
        // Waiting gets, first come first served, take what arrived.
        while !partition.items.isEmpty, !partition.getters.isEmpty {
            let getter = partition.getters.removeFirst()
            getter.timer?.cancel()
            _ = tryGet(getter, from: queue, key: key, stored: stored)
        }
        return true
    }

    /// Answers the waiter with up to `max_items` items if its partition has any; false when it has none.
    private func tryGet(_ waiter: Queues.Waiter, from queue: Queues.Queue, key: Queues.Key, stored: Bool) -> Bool {
        let request = waiter.request
        if replayReceipt(of: request, in: queue, stored: stored, respond: waiter.respond) { return true }
        guard let partition = queue.partitions[request.partition], !partition.items.isEmpty else { return false }
        var reply = Aloft_V1_QueueReply()
        var last: UInt64 = 0
        for _ in 0..<max(1, Int(request.maxItems)) {
            guard let item = partition.items.popFirst() else { break }
            reply.items.append(item.data)
            last = item.position
        }
        if stored {
            record(
                .deleteQueueItems(
                    workspace: key.workspace, queue: key.name, partition: request.partition, through: last))
        }
        keepReceipt(of: request, items: reply.items, in: queue, key: key, stored: stored)
        self.reply(reply, whenStored: stored, respond: waiter.respond)
        wakePutters(of: partition, queue: queue, key: key)
        return true
    }

    private func wakePutters(of partition: Queues.Partition, queue: Queues.Queue, key: Queues.Key) {
        while let putter = partition.putters.first, tryPut(putter, into: queue, key: key, stored: queue.owner == nil) {
            partition.putters.removeFirst()
            putter.timer?.cancel()
        }
    }

    /// Holds a get (or a put) until items (or room) arrive, its timeout passes, or its connection closes.
    private func wait(_ waiter: Queues.Waiter, in queue: Queues.Queue, key: Queues.Key, getting: Bool) throws {
        let timeout = waiter.request.timeoutMs
        guard timeout != 0 else {
            throw getting
                ? AloftError(.queueEmpty, "queue \(key.name) has no item\(partitionNote(waiter.request))")
                : AloftError(.queueFull, "queue \(key.name) is full\(partitionNote(waiter.request))")
        }
        let partitionName = waiter.request.partition
        if queue.partitions[partitionName] == nil {
            queue.partitions[partitionName] = Queues.Partition(
                expiresAt: Date().addingTimeInterval(Double(Self.defaultPartitionTTL.wireMilliseconds) / 1000))
        }
        guard let partition = queue.partitions[partitionName] else { return }
        if getting { partition.getters.append(waiter) } else { partition.putters.append(waiter) }
        guard timeout > 0 else { return }
        waiter.timer = loop.scheduleTask(in: .milliseconds(timeout)) { [self, weak partition] in
            guard let partition else { return }
            let before = partition.getters.count + partition.putters.count
            partition.getters.removeAll { $0 === waiter }
            partition.putters.removeAll { $0 === waiter }
            guard partition.getters.count + partition.putters.count < before else { return }
            waiter.respond(
                .failure(
                    getting
                        ? AloftError(
                            .queueEmpty,
                            "queue \(key.name) had no item within \(timeout) ms\(partitionNote(waiter.request))")
                        : AloftError(
                            .queueFull,
                            "queue \(key.name) had no room within \(timeout) ms\(partitionNote(waiter.request))")))
        }
    }

    private func partitionNote(_ request: Aloft_V1_QueueRequest) -> String {
        request.partition.isEmpty ? "" : " in partition \(request.partition)"
    }

    private func failWaiters(of queue: Queues.Queue, _ error: AloftError) {
        for partition in queue.partitions.values {
            for waiter in partition.getters + partition.putters {
                waiter.timer?.cancel()
                waiter.respond(.failure(error))
            }
            partition.getters = []
            partition.putters = []
        }
    }

    /// A connection closed: its waiting requests are dropped (so no item goes to a getter that is gone), and its
    /// ephemeral queues end.
    func queueConnectionClosed(_ connection: ObjectIdentifier) {
        for queue in queues.all.values {
            for partition in queue.partitions.values {
                for waiter in partition.getters + partition.putters where waiter.connection == connection {
                    waiter.timer?.cancel()
                }
                partition.getters.removeAll { $0.connection == connection }
                partition.putters.removeAll { $0.connection == connection }
            }
        }
        for queue in queues.dropEphemeral(ownedBy: connection) {
            failWaiters(of: queue, AloftError(.notFound, "the ephemeral queue's owner went away"))
        }
    }

    private func queue(_ request: Aloft_V1_QueueRequest, workspace: String) throws -> Queues.Queue {
        if let queue = queues[workspace, request.name] { return queue }
        guard request.createIfMissing, request.op != .delete else {
            throw AloftError(
                .notFound,
                "queue \(request.name) not found in this workspace: create it with Queue.fromName(\"\(request.name)\", createIfMissing: true)"
            )
        }
        try ObjectName.validate(request.name, what: "a queue name")
        let queue = Queues.Queue(createdAt: Date(), owner: nil)
        queues.add(queue, workspace: workspace, name: request.name)
        record(.putQueue(StoredQueue(workspace: workspace, name: request.name, createdAt: queue.createdAt)))
        return queue
    }

    private func checkPartitionName(_ partition: String) throws {
        guard partition.utf8.count <= 64 else {
            throw AloftError(.invalidArgument, "a partition key is 1 to 64 bytes, got \(partition.utf8.count)")
        }
    }

    /// The stored queues, at start.
    func restoreQueues(_ stored: [StoredQueue]) {
        for storedQueue in stored {
            let queue = Queues.Queue(createdAt: storedQueue.createdAt, owner: nil)
            for item in storedQueue.items {
                let partition =
                    queue.partitions[item.partition]
                    ?? {
                        let made = Queues.Partition(expiresAt: item.expiresAt)
                        queue.partitions[item.partition] = made
                        return made
                    }()
                partition.items.append((item.position, item.data))
                partition.nextPosition = max(partition.nextPosition, item.position + 1)
                partition.expiresAt = max(partition.expiresAt, item.expiresAt)
            }
            for receipt in storedQueue.receipts { queue.receipts.add(receipt) }
            queues.add(queue, workspace: storedQueue.workspace, name: storedQueue.name)
        }
    }

    /// Clears the partitions whose TTL passed since their last put, and forgets receipts older than an hour (on the
    /// reaper, once a minute).
    func expireQueuePartitions(now: Date) {
        for (key, queue) in queues.all {
            let cutoff = now.addingTimeInterval(-Self.queueReceiptLifetime)
            forgetReceipts(of: queue, key: key) { oldest, _, _ in oldest.createdAt < cutoff }
            for (name, partition) in queue.partitions
            where partition.expiresAt < now && partition.getters.isEmpty && partition.putters.isEmpty {
                queue.partitions[name] = nil
                if queue.owner == nil {
                    record(.clearQueue(workspace: key.workspace, name: key.name, partition: name))
                }
            }
        }
    }
}
