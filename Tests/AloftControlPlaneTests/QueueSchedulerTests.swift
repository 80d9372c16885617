import AloftCore
import AloftWire
import Foundation
import NIOCore
import Testing

@testable import AloftControlPlane

/// The Queues room in-process: waiting gets are served in arrival order by the puts that wake them, time out on the
/// loop's clock, and never take an item for a connection that closed.
@Suite("Queues in the scheduler")
struct QueueSchedulerTests {
    func request(_ op: Aloft_V1_QueueOp, items: [String] = [], timeoutMs: Int64 = -1) -> Aloft_V1_QueueRequest {
        var request = Aloft_V1_QueueRequest()
        request.op = op
        request.name = "q"
        request.createIfMissing = true
        request.items = items.map { Data($0.utf8) }
        request.timeoutMs = timeoutMs
        return request
    }

    func items(_ peer: Peer) throws -> [String]? {
        switch try peer.next()?.body {
        case .queueReply(let reply): reply.items.map { String(decoding: $0, as: UTF8.self) }
        case .error(let error): ["error: \(error.code)"]
        default: nil
        }
    }

    @Test("waiting gets are woken by puts in arrival order; a closed getter's turn is skipped, its item kept")
    func arrivalOrder() throws {
        let harness = Harness()
        let first = try harness.client()
        let gone = try harness.client()
        let second = try harness.client()
        let producer = try harness.client()
        for peer in [first, gone, second] { try peer.send(.queueRequest(request(.get)), requestID: 2) }
        #expect(try items(first) == nil && items(second) == nil)  // waiting
        try gone.close()
        try producer.send(.queueRequest(request(.put, items: ["1", "2", "3"])), requestID: 2)
        #expect(try items(first) == ["1"])
        #expect(try items(second) == ["2"])
        #expect(try items(producer) == [])  // the put's ack
        try producer.send(.queueRequest(request(.len)), requestID: 3)
        guard case .queueReply(let length) = try producer.next()?.body else { throw HarnessError("no reply") }
        #expect(length.count == 1)
    }

    @Test("a waiting get times out with queueEmpty on the loop's clock, and a later put is kept for the next get")
    func timeout() throws {
        let harness = Harness()
        let client = try harness.client()
        try client.send(.queueRequest(request(.get, timeoutMs: 5_000)), requestID: 2)
        harness.advance(by: .seconds(4))
        #expect(try items(client) == nil)
        harness.advance(by: .seconds(2))
        #expect(try items(client) == ["error: queueEmpty"])
        try client.send(.queueRequest(request(.put, items: ["kept"])), requestID: 3)
        _ = try items(client)
        try client.send(.queueRequest(request(.get, timeoutMs: 0)), requestID: 4)
        #expect(try items(client) == ["kept"])
    }

    @Test("a repeated request id puts nothing again and gets the same items again, also from another connection")
    func receipts() throws {
        let harness = Harness()
        let client = try harness.client()
        func send(_ request: Aloft_V1_QueueRequest, id: String, from peer: Peer) throws -> [String]? {
            var request = request
            request.requestID = id
            try peer.send(.queueRequest(request), requestID: 2)
            return try items(peer)
        }
        #expect(try send(request(.put, items: ["a", "b"]), id: "put-1", from: client) == [])
        #expect(try send(request(.put, items: ["a", "b"]), id: "put-1", from: client) == [])
        var get = request(.get)
        get.maxItems = 1
        #expect(try send(get, id: "get-1", from: client) == ["a"])
        let retry = try harness.client()  // the same request after a reconnect
        #expect(try send(get, id: "get-1", from: retry) == ["a"])
        #expect(try send(get, id: "get-2", from: retry) == ["b"])
        try retry.send(.queueRequest(request(.len)), requestID: 4)
        guard case .queueReply(let length) = try retry.next()?.body else { throw HarnessError("no reply") }
        #expect(length.count == 0)
        #expect(try send(get, id: String(repeating: "k", count: 65), from: retry) == ["error: invalidArgument"])
        // A get that waits under an id, answered by a later put: its repeat gets what it got.
        try client.send(
            .queueRequest(
                {
                    var waiting = get
                    waiting.requestID = "get-3"
                    return waiting
                }()), requestID: 3)
        #expect(try items(client) == nil)
        #expect(try send(request(.put, items: ["c"]), id: "put-2", from: retry) == [])
        #expect(try items(client) == ["c"])
        #expect(try send(get, id: "get-3", from: retry) == ["c"])
        // An hour on (the reaper's check, with its clock moved), the receipts are gone: the same id puts again.
        harness.scheduler.expireQueuePartitions(now: Date().addingTimeInterval(3_700))
        #expect(try send(request(.put, items: ["a", "b"]), id: "put-1", from: client) == [])
        #expect(try send(get, id: "get-1", from: client) == ["a"])
    }
}
