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
}
