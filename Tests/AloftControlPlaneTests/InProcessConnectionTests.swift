import AloftCore
import AloftWire
import Foundation
import NIOEmbedded
import Synchronization
import Testing

@testable import AloftControlPlane

/// An in-process caller (the SDK beside an embedded control plane) on the scheduler of `Harness`: what it is sent
/// and whether it was told of a close.
private final class InProcessCaller {
    private final class Received: Sendable {
        let state = Mutex<(frames: [Aloft_V1_Envelope], closes: Int)>(([], 0))
    }
    private let state = Received()
    let connection: InProcessConnection
    private let harness: Harness

    init(_ harness: Harness) {
        self.harness = harness
        let received = state
        connection = InProcessConnection(
            scheduler: harness.scheduler, deliver: { frame in received.state.withLock { $0.frames.append(frame) } },
            onClose: { received.state.withLock { $0.closes += 1 } })
        connection.open()
    }

    func send(_ body: Aloft_V1_Envelope.OneOf_Body, requestID: UInt64) {
        connection.send(Aloft_V1_Envelope(requestID: requestID, body: body))
        harness.loop.run()
    }

    /// The frames delivered since the last call.
    func received() -> [Aloft_V1_Envelope] {
        harness.loop.run()
        return state.state.withLock { state in
            defer { state.frames = [] }
            return state.frames
        }
    }

    var closes: Int { state.state.withLock { $0.closes } }
}

@Suite("In-process connections")
struct InProcessConnectionTests {
    @Test(
        "an in-process caller speaks the wire protocol without a socket: hello, a call run by a container, its result handed back under the request's id; its close is heard once, on both sides"
    )
    func call() throws {
        let harness = Harness()
        let caller = InProcessCaller(harness)
        #expect(harness.scheduler.connections.count == 1)
        var hello = Aloft_V1_Hello(role: .client)
        hello.protocolVersion = AloftLimits.protocolVersion
        caller.send(.hello(hello), requestID: 1)
        let welcome = caller.received()
        guard case .helloReply(let reply) = try #require(welcome.first).body else {
            Issue.record("no hello reply: \(welcome)")
            return
        }
        #expect(welcome.first?.requestID == 1 && reply.maxPayloadBytes > 0)

        var register = Aloft_V1_FunctionRegister()
        register.appName = "app"
        register.functionName = "square"
        register.executable = "/fake/app"
        register.isDefinition = true
        caller.send(.functionRegister(register), requestID: 2)
        guard case .functionRegistered(let registered) = try #require(caller.received().first).body else {
            Issue.record("not registered")
            return
        }
        var invoke = Aloft_V1_FunctionInvoke()
        invoke.functionID = registered.functionID
        invoke.data = Data("3".utf8)
        invoke.callID = "fc-in-process"
        caller.send(.functionInvoke(invoke), requestID: 3)
        let container = try harness.connectContainer(0)
        let input = try #require(try container.dispatched().first)
        #expect(input.data == Data("3".utf8))
        try container.answer(input.inputID, .success(Array("9".utf8)))
        let answered = caller.received()
        guard case .invokeResult(let result) = try #require(answered.first).body else {
            Issue.record("no result: \(answered)")
            return
        }
        #expect(answered.first?.requestID == 3 && result.result.data == Data("9".utf8))

        caller.connection.closeFromCaller()
        harness.loop.run()
        #expect(caller.closes == 1)
        #expect(harness.scheduler.connections.count == 1, "the container's connection alone is left")
        caller.send(.functionInvoke(invoke), requestID: 4)  // after the close: dropped, never run
        let dispatched = try container.dispatched()
        #expect(caller.received().isEmpty && dispatched.isEmpty)
        caller.connection.closeFromCaller()
        harness.loop.run()
        #expect(caller.closes == 1, "closed once")
    }

    @Test("a frame before hello closes an in-process connection as it closes a socket's; the caller is told")
    func refusedBeforeHello() {
        let harness = Harness()
        let caller = InProcessCaller(harness)
        var invoke = Aloft_V1_FunctionInvoke()
        invoke.functionID = 1
        caller.send(.functionInvoke(invoke), requestID: 1)
        #expect(caller.closes == 1)
        #expect(caller.received().isEmpty)
        #expect(harness.scheduler.connections.isEmpty)
    }

    @Test("a scheduler that is shutting down takes no in-process connection: the caller is told at once")
    func refusedWhileStopping() {
        let harness = Harness()
        _ = harness.scheduler.shutdown()
        harness.loop.run()
        let caller = InProcessCaller(harness)
        #expect(caller.closes == 1)
        #expect(harness.scheduler.connections.isEmpty)
    }
}
