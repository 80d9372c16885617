import AloftCore
import AloftWire
import Foundation
import NIOCore

/// Every queue the control plane holds, named and ephemeral, with their items and waiting requests in memory (a
/// store, where there is one, has every named queue's items too). Used on the scheduler's loop only.
struct Queues {
    struct Key: Hashable {
        var workspace: String
        var name: String
    }

    typealias Respond = @Sendable (Result<Aloft_V1_QueueReply, AloftError>) -> Void

    /// A `get` waiting for items, or a `put` waiting for room, in arrival order.
    final class Waiter: @unchecked Sendable {  // used on the loop only
        let id: UInt64
        let connection: ObjectIdentifier?
        let request: Aloft_V1_QueueRequest
        let respond: Respond
        var timer: Scheduled<Void>?

        init(id: UInt64, connection: ObjectIdentifier?, request: Aloft_V1_QueueRequest, respond: @escaping Respond) {
            self.id = id
            self.connection = connection
            self.request = request
            self.respond = respond
        }
    }

    final class Partition: @unchecked Sendable {  // used on the loop only
        var items = CircularBuffer<(position: UInt64, data: Data)>()
        var nextPosition: UInt64 = 1
        var expiresAt: Date
        var getters: [Waiter] = []
        var putters: [Waiter] = []

        init(expiresAt: Date) {
            self.expiresAt = expiresAt
        }
    }

    final class Queue {
        var partitions: [String: Partition] = [:]
        var receipts = Receipts()
        let createdAt: Date
        /// The connection an ephemeral queue lives with.
        let owner: ObjectIdentifier?

        init(createdAt: Date, owner: ObjectIdentifier?) {
            self.createdAt = createdAt
            self.owner = owner
        }
    }

    private(set) var all: [Key: Queue] = [:]

    subscript(workspace: String, name: String) -> Queue? {
        all[Key(workspace: workspace, name: name)]
    }

    mutating func add(_ queue: Queue, workspace: String, name: String) {
        all[Key(workspace: workspace, name: name)] = queue
    }

    mutating func remove(workspace: String, name: String) -> Queue? {
        all.removeValue(forKey: Key(workspace: workspace, name: name))
    }

    func names(workspace: String) -> [String] {
        all.filter { $0.key.workspace == workspace && $0.value.owner == nil }.map(\.key.name).sorted()
    }

    /// Removes the ephemeral queues of a connection that closed, and returns them (their waiters are answered).
    mutating func dropEphemeral(ownedBy owner: ObjectIdentifier) -> [Queue] {
        let dropped = all.filter { $0.value.owner == owner }
        for key in dropped.keys { all[key] = nil }
        return Array(dropped.values)
    }
}
