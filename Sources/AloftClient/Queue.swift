import AloftCore
import AloftWire
import Foundation

/// A durable FIFO queue shared by every process of a workspace: Modal's `modal.Queue`, typed.
///
/// Items are any `Codable & Sendable` type, stored as their JSON, first in first out per partition (the default
/// partition, or one named by a 1–64-byte key). `get` waits for an item until its timeout (woken by the `put`
/// that brings one, never by polling; waiters are served in arrival order) and then throws `queueEmpty`; `put`
/// waits for room (5,000 items per partition, 100,000 partitions) and then throws `queueFull`. A partition is
/// cleared 24 h (`partitionTTL`) after its last put. On a server, an acknowledged put survives `kill -9`, and an
/// item is handed to exactly one getter.
///
/// Every put and get to a server carries a request id (an `idempotencyKey` of the caller's, or a random one): when
/// the connection closes before the reply (a server restart), the request is sent again under the same id within
/// the reconnect window, and the server answers a repeat from what the first did (a get's repeat returns the same
/// items). So a lost reply neither duplicates nor loses an item; a container whose call runs again after a restart
/// gets the same effect by passing the same keys. The server keeps what a request did for an hour, at most 100,000
/// requests and 64 MiB of taken items per queue (the oldest go first); docs/server.md has the details.
public struct Queue<Element: Codable & Sendable>: Sendable {
    public let name: String
    let createIfMissing: Bool
    let controlPlane: any ControlPlaneProvider

    /// The named queue of the caller's workspace on `controlPlane` (with `import Aloft`, `Queue.fromName(_:)` uses
    /// the embedded control plane, or the one `ALOFT_CONTROL_PLANE` names). Lazy: `notFound` on first use for a
    /// queue that does not exist unless `createIfMissing`.
    public static func fromName(
        _ name: String, createIfMissing: Bool = false, controlPlane: any ControlPlaneProvider
    ) -> Queue {
        Queue(name: name, createIfMissing: createIfMissing, controlPlane: controlPlane)
    }

    /// A new queue that lives as long as this process's connection to `controlPlane` (never stored).
    public static func ephemeral(controlPlane: any ControlPlaneProvider) async throws -> Queue {
        var request = Aloft_V1_QueueRequest()
        request.op = .createEphemeral
        return Queue(
            name: try await send(request, to: controlPlane).name, createIfMissing: false, controlPlane: controlPlane)
    }

    /// Adds `item` at the back of `partition`, waiting up to `timeout` for room (`nil`: as long as it takes; `.zero`:
    /// not at all).
    /// `idempotencyKey` (1–64 bytes): a put with a key used within the last hour puts nothing again.
    public func put(
        _ item: Element, timeout: Duration? = nil, partition: String? = nil, partitionTTL: Duration = .seconds(86_400),
        idempotencyKey: String? = nil
    ) async throws {
        try await putMany(
            [item], timeout: timeout, partition: partition, partitionTTL: partitionTTL, idempotencyKey: idempotencyKey)
    }

    /// Adds `items` in order, all or none, in one request.
    public func putMany(
        _ items: [Element], timeout: Duration? = nil, partition: String? = nil,
        partitionTTL: Duration = .seconds(86_400), idempotencyKey: String? = nil
    ) async throws {
        var request = try self.request(.put, partition: partition, idempotencyKey: idempotencyKey)
        request.items = try items.map { try DictCodec.encode($0) }
        request.timeoutMs = Self.milliseconds(timeout)
        request.partitionTtlMs = partitionTTL.wireMilliseconds
        _ = try await send(request)
    }

    /// Takes the item at the front of `partition`, waiting up to `timeout` for one (`nil`: as long as it takes;
    /// `.zero`: not at all); throws `queueEmpty` when none came. `idempotencyKey` (1–64 bytes): a get with a key used
    /// within the last hour takes nothing and returns what that get took.
    public func get(
        timeout: Duration? = nil, partition: String? = nil, idempotencyKey: String? = nil
    ) async throws -> Element {
        guard
            let item = try await getMany(1, timeout: timeout, partition: partition, idempotencyKey: idempotencyKey)
                .first
        else {
            throw AloftError(.queueEmpty, "queue \(name) has no item")
        }
        return item
    }

    /// Takes 1 to `count` items from the front once at least one is there, waiting as `get` does.
    public func getMany(
        _ count: Int, timeout: Duration? = nil, partition: String? = nil, idempotencyKey: String? = nil
    ) async throws -> [Element] {
        var request = try self.request(.get, partition: partition, idempotencyKey: idempotencyKey)
        request.maxItems = UInt32(clamping: max(1, count))
        request.timeoutMs = Self.milliseconds(timeout)
        return try await send(request).items.map {
            try DictCodec.decode(Element.self, from: $0, what: "item of queue \(name)")
        }
    }

    /// The number of items in `partition`, or in every partition with `total`.
    public func count(partition: String? = nil, total: Bool = false) async throws -> Int {
        var request = try self.request(.len, partition: partition)
        request.total = total
        return Int(try await send(request).count)
    }

    /// Removes the items of `partition`, or of every partition with `all`.
    public func clear(partition: String? = nil, all: Bool = false) async throws {
        var request = try self.request(.clear, partition: partition)
        request.all = all
        _ = try await send(request)
    }

    /// The items of `partition` from the front, without removing them; when it reaches the back it waits up to
    /// `itemPollTimeout` for more (checking every 100 ms) and then ends.
    public func iterate(
        partition: String? = nil, itemPollTimeout: Duration = .zero
    ) -> AsyncThrowingStream<Element, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: Element.self)
        let task = Task {
            do {
                var after: UInt64 = 0
                var idleSince = ContinuousClock.now
                while true {
                    var request = try self.request(.peek, partition: partition)
                    request.after = after
                    let reply = try await send(request)
                    for item in reply.items {
                        continuation.yield(
                            try DictCodec.decode(Element.self, from: item, what: "item of queue \(name)"))
                    }
                    if reply.items.isEmpty {
                        guard ContinuousClock.now - idleSince < itemPollTimeout else { break }
                        try await Task.sleep(for: .milliseconds(100))
                    } else {
                        after = reply.next
                        idleSince = .now
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Deletes the queue and its items; waiting gets and puts fail with `notFound`.
    public func delete() async throws {
        _ = try await send(try request(.delete, partition: nil))
    }

    private static func milliseconds(_ timeout: Duration?) -> Int64 {
        guard let timeout else { return -1 }
        return timeout <= .zero ? 0 : max(1, timeout.wireMilliseconds)
    }

    private func request(
        _ op: Aloft_V1_QueueOp, partition: String?, idempotencyKey: String? = nil
    ) throws -> Aloft_V1_QueueRequest {
        if let partition, partition.isEmpty || partition.utf8.count > 64 {
            throw AloftError(.invalidArgument, "a partition key is 1 to 64 bytes, got \(partition.utf8.count)")
        }
        if let idempotencyKey, idempotencyKey.isEmpty || idempotencyKey.utf8.count > 64 {
            throw AloftError(
                .invalidArgument, "an idempotency key is 1 to 64 bytes, got \(idempotencyKey.utf8.count)")
        }
        var request = Aloft_V1_QueueRequest()
        request.name = name
        request.createIfMissing = createIfMissing
        request.op = op
        request.partition = partition ?? ""
        if op == .put || op == .get {
            // A control plane that is not reconnected to (the embedded one) has no use for a random id.
            if let idempotencyKey {
                request.requestID = idempotencyKey
            } else if AloftRuntime.shared.reconnectWindow(for: controlPlane) > .zero {
                request.requestID = Self.newRequestID()
            }
        }
        return request
    }

    /// A request id that sorts by time (nanoseconds since 1970, then 64 random bits, in hex), so that the server's
    /// store adds each receipt at the end of its index rather than at a random place in it.
    private static func newRequestID() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nanoseconds = UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
        func bigEndianHex(_ value: UInt64) -> String { Hex.string(withUnsafeBytes(of: value.bigEndian) { Array($0) }) }
        return bigEndianHex(nanoseconds) + bigEndianHex(UInt64.random(in: .min ... .max))
    }

    private func send(_ request: Aloft_V1_QueueRequest) async throws -> Aloft_V1_QueueReply {
        try await Self.send(request, to: controlPlane)
    }

    private static func send(
        _ request: Aloft_V1_QueueRequest, to controlPlane: any ControlPlaneProvider
    ) async throws -> Aloft_V1_QueueReply {
        // Puts and gets carry a request id, and len, peek and list only read: each is safe to send again.
        let repeatable = [.put, .get, .len, .peek, .list].contains(request.op)
        return try await AloftRuntime.shared.request(
            .queueRequest(request), to: controlPlane, what: "a queue request", retrying: repeatable
        ) {
            if case .queueReply(let reply) = $0 { reply } else { nil }
        }
    }
}
