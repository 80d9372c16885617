import AloftCore
import AloftWire
import Foundation
import NIOCore
import Testing

@testable import AloftControlPlane

/// The Dicts room in-process: what the reaper expires, and what a closed connection takes with it.
@Suite("Dicts in the scheduler")
struct DictSchedulerTests {
    func request(_ op: Aloft_V1_DictOp, _ name: String, key: String = "", value: String = "") -> Aloft_V1_DictRequest {
        var request = Aloft_V1_DictRequest()
        request.op = op
        request.name = name
        request.createIfMissing = true
        request.key = Data(key.utf8)
        request.value = Data(value.utf8)
        return request
    }

    func reply(_ peer: Peer) throws -> Aloft_V1_DictReply {
        guard case .dictReply(let reply) = try peer.next()?.body else { throw HarnessError("no dict reply") }
        return reply
    }

    @Test("an entry nobody touched within the idle expiry is removed by the reaper; a touched one stays")
    func idleExpiry() throws {
        let harness = Harness { $0.dictEntryIdleExpiry = .seconds(30) }
        let client = try harness.client()
        try client.send(.dictRequest(request(.put, "d", key: "\"old\"", value: "1")), requestID: 2)
        _ = try reply(client)
        // The reaper expires by wall time: age the entry by moving its touch back.
        harness.scheduler.dicts["", "d"]?.entries[Data("\"old\"".utf8)]?.touched = Date().addingTimeInterval(-60)
        try client.send(.dictRequest(request(.put, "d", key: "\"new\"", value: "2")), requestID: 3)
        _ = try reply(client)
        harness.advance(by: .seconds(61))
        try client.send(.dictRequest(request(.len, "d")), requestID: 4)
        #expect(try reply(client).count == 1)
        try client.send(.dictRequest(request(.contains, "d", key: "\"new\"")), requestID: 5)
        #expect(try reply(client).found)
    }

    @Test("an ephemeral dict is gone when the connection that made it closes; named ones stay")
    func ephemeralEndsWithItsConnection() throws {
        let harness = Harness()
        let owner = try harness.client()
        try owner.send(.dictRequest(request(.createEphemeral, "")), requestID: 2)
        let name = try reply(owner).name
        #expect(name.hasPrefix("dict-ephemeral-"))
        try owner.send(.dictRequest(request(.put, "named", key: "1", value: "1")), requestID: 3)
        _ = try reply(owner)
        try owner.close()
        let other = try harness.client()
        var lookup = request(.len, name)
        lookup.createIfMissing = false
        try other.send(.dictRequest(lookup), requestID: 2)
        guard case .error(let error) = try other.next()?.body else { throw HarnessError("no error") }
        #expect(error.code == AloftError.Code.notFound.rawValue)
        try other.send(.dictRequest(request(.list, "")), requestID: 3)
        #expect(try reply(other).names == ["named"])
    }
}
