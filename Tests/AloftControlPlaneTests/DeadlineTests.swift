import AloftCore
import AloftWire
import NIOCore
import Testing

@testable import AloftControlPlane

/// Each attempt's timeout, kept in its container's `InputDeadlines` under one timer.
@Suite("Input deadlines")
struct DeadlineTests {
    let success = Aloft_V1_Result.success(Array("ok".utf8))

    @Test(
        "short inputs finishing beside a long one leave no deadlines behind, and the long one still times out on time"
    )
    func longBesideShort() throws {
        let harness = Harness()
        let client = try harness.client()
        let options = FunctionOptions(timeout: .seconds(10)).concurrent(maxInputs: 2)
        let id = try harness.register("f", options: options, on: client)
        try client.invoke(id, "long", requestID: 1)
        let container = try harness.connectContainer(0)
        #expect(try container.dispatched().count == 1)
        for n in 0..<500 {
            if n == 250 { harness.advance(by: .seconds(5)) }
            try client.invoke(id, "short \(n)", requestID: UInt64(100 + n))
            let short = try #require(try container.dispatched().first)
            try container.answer(short.inputID, success)
            #expect(try client.next()?.invokeResult == success)
        }
        let record = try #require(harness.containers(of: "f").first)
        #expect(record.deadlines.count <= 2 * record.assigned.count + 64, "\(record.deadlines.count) kept")
        #expect(record.deadlines.timer != nil)
        harness.advance(by: .milliseconds(4999))
        #expect(try client.next() == nil)
        #expect(!harness.runtime.started[0].handle.wasKilled)
        harness.advance(by: .milliseconds(1))
        let result = try #require(try client.next()?.invokeResult)
        #expect(result.status == .timeout && result.error.message.contains("timed out after 10.0 s"))
        #expect(harness.runtime.started[0].handle.wasKilled)
    }

    @Test("when the earliest input finishes, the timer waits for the next one's deadline, not its own")
    func timerMovesOn() throws {
        let harness = Harness()
        let client = try harness.client()
        let id = try harness.register("f", options: FunctionOptions(timeout: .seconds(10)), on: client)
        try client.invoke(id, "first", requestID: 1)
        let container = try harness.connectContainer(0)
        let first = try #require(try container.dispatched().first)
        harness.advance(by: .seconds(1))
        try container.answer(first.inputID, success)
        #expect(try client.next()?.invokeResult == success)
        try client.invoke(id, "second", requestID: 2)  // runs from t = 1 s until its deadline at 11 s
        #expect(try container.dispatched().count == 1)
        harness.advance(by: .seconds(9))  // t = 10 s: the timer armed for the first input fires, finds the second
        #expect(try client.next() == nil)
        #expect(!harness.runtime.started[0].handle.wasKilled)
        harness.advance(by: .milliseconds(999))
        #expect(try client.next() == nil)
        harness.advance(by: .milliseconds(1))
        #expect(try client.next()?.invokeResult?.status == .timeout)
        #expect(harness.runtime.started[0].handle.wasKilled)
    }

    @Test(
        "a container keeps the timeout it started with: an input it starts after a redeployment shortened it has the old one"
    )
    func timeoutOfTheContainer() throws {
        let harness = Harness()
        let client = try harness.client()
        let id = try harness.register(
            "f", options: FunctionOptions(timeout: .seconds(10), maxContainers: 1), on: client)
        try client.invoke(id, "first", requestID: 1)
        try client.invoke(id, "second", requestID: 2)
        let container = try harness.connectContainer(0)
        let sent = try container.dispatched()
        try #require(sent.count == 2, "the second waits in the container, behind the first")
        _ = try harness.register("f", options: FunctionOptions(timeout: .seconds(2), maxContainers: 1), on: client)
        harness.advance(by: .seconds(1))
        try container.answer(sent[0].inputID, success)  // the second starts at 1 s
        #expect(try client.next()?.invokeResult == success)
        harness.advance(by: .seconds(3))  // 4 s: past what the new options say, not what the container's do
        #expect(try client.next() == nil)
        harness.advance(by: .seconds(7))  // 11 s
        #expect(try client.next()?.invokeResult?.status == .timeout)
    }
}
