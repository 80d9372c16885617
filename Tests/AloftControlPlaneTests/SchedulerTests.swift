import AloftCore
import AloftWire
import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import AloftControlPlane

/// The scheduler driven in-process (`Harness`): no sockets, no processes, and a clock that moves only by hand, so
/// that retries, timeouts, grace periods and scaledown windows are tested in milliseconds. The same behaviours are
/// tested live, through container processes, in AloftTests.
@Suite("Scheduler in-process")
struct SchedulerTests {
    let success = Aloft_V1_Result.success(Array("ok".utf8))
    let userError = Aloft_V1_Result.failure(.failure, AloftError(.remoteError, "boom"))

    @Test("a remote call starts a container, runs there, and answers its caller")
    func remoteCall() throws {
        let harness = Harness()
        let client = try harness.client()
        let id = try harness.register("f", on: client)
        #expect(harness.runtime.started.isEmpty)  // no warm containers by default
        try client.invoke(id, "x", requestID: 7)
        #expect(harness.runtime.started.count == 1)
        let spec = harness.runtime.started[0].spec
        #expect(spec.functionName == "f" && spec.executable == "/fake/app")
        #expect(spec.environment[AloftEnvironment.containerID] == spec.containerID)

        let container = try harness.connectContainer(0)
        let dispatched = try container.dispatched()
        #expect(dispatched.map(\.data) == [Data("x".utf8)])
        try container.answer(dispatched[0].inputID, success)
        let reply = try #require(try client.next())
        #expect(reply.requestID == 7)
        #expect(reply.invokeResult == success)
    }

    @Test("autoscaling starts a container per target inputs, within maxContainers; minContainers stay warm")
    func autoscaling() throws {
        let harness = Harness()
        let client = try harness.client()
        let capped = try harness.register("capped", options: FunctionOptions(maxContainers: 3), on: client)
        for i in 0..<5 { try client.invoke(capped, "\(i)", requestID: UInt64(10 + i)) }
        #expect(harness.containers(of: "capped").count == 3)

        let concurrent = try harness.register(
            "concurrent", options: FunctionOptions().concurrent(maxInputs: 4, targetInputs: 2), on: client)
        for i in 0..<5 { try client.invoke(concurrent, "\(i)", requestID: UInt64(20 + i)) }
        #expect(harness.containers(of: "concurrent").count == 3)  // ceil(5 / 2)

        _ = try harness.register("warm", options: FunctionOptions(minContainers: 2), on: client)
        #expect(harness.containers(of: "warm").count == 2)
    }

    @Test("a failed attempt is retried after its backoff, then the last failure answers the caller")
    func retriesWithBackoff() throws {
        let harness = Harness()
        let client = try harness.client()
        let retries = Retries(maxRetries: 2, backoffCoefficient: 2, initialDelay: .seconds(1))
        let id = try harness.register("f", options: FunctionOptions(retries: retries), on: client)
        try client.invoke(id, "x")
        let container = try harness.connectContainer(0)
        var attempt = try #require(try container.dispatched().first)
        for delay in [TimeAmount.seconds(1), .seconds(2)] {
            try container.answer(attempt.inputID, userError)
            #expect(try client.next() == nil)
            harness.advance(by: delay - .milliseconds(1))
            #expect(try container.dispatched().isEmpty)  // still waiting out the backoff
            harness.advance(by: .milliseconds(1))
            let next = try #require(try container.dispatched().first)
            #expect(next.inputID != attempt.inputID && next.data == attempt.data)
            attempt = next
        }
        try container.answer(attempt.inputID, userError)
        #expect(try client.next()?.invokeResult == userError)
        #expect(harness.runtime.started.count == 1)  // retries reuse the serving container
    }

    @Test("a late output of an earlier attempt is dropped: the caller gets the result of the attempt that ended it")
    func lateOutputsAreDropped() throws {
        let harness = Harness()
        let client = try harness.client()
        let retries = Retries(maxRetries: 2, backoffCoefficient: 1, initialDelay: .seconds(1))
        let id = try harness.register("f", options: FunctionOptions(timeout: .seconds(2), retries: retries), on: client)
        try client.invoke(id, "x")
        let first = try harness.connectContainer(0)
        let timedOut = try #require(try first.dispatched().first)
        harness.advance(by: .seconds(2))  // the first attempt times out; its container is killed
        #expect(harness.runtime.started[0].handle.wasKilled)
        // Its output arrives anyway (the kill has not landed yet): dropped, the input is retried all the same.
        try first.answer(timedOut.inputID, .success(Array("late".utf8)))
        #expect(try client.next() == nil)
        harness.advance(by: .seconds(1))
        let second = try harness.connectContainer(1)
        let failed = try #require(try second.dispatched().first)
        #expect(failed.inputID != timedOut.inputID)
        try second.answer(failed.inputID, userError)  // retried once more, after its backoff
        harness.advance(by: .seconds(1))
        let last = try #require(try second.dispatched().first)
        try second.answer(failed.inputID, .success(Array("late too".utf8)))  // an output of that failed attempt again
        #expect(try client.next() == nil)
        try second.answer(last.inputID, success)
        #expect(try client.received().compactMap(\.invokeResult) == [success])
        try second.answer(last.inputID, userError)  // and one more of the attempt that ended the input
        #expect(try client.received().isEmpty)
    }

    @Test("an attempt past its timeout ends as a timeout, and its container is killed")
    func timeout() throws {
        let harness = Harness()
        let client = try harness.client()
        let id = try harness.register("f", options: FunctionOptions(timeout: .seconds(2)), on: client)
        try client.invoke(id, "x")
        let container = try harness.connectContainer(0)
        #expect(try container.dispatched().count == 1)
        harness.advance(by: .milliseconds(1999))
        #expect(try client.next() == nil)
        harness.advance(by: .milliseconds(1))
        let result = try #require(try client.next()?.invokeResult)
        #expect(result.status == .timeout)
        #expect(result.error.message.contains("timed out after 2.0 s (attempt 1)"))
        #expect(harness.runtime.started[0].handle.wasKilled)
        #expect(harness.containers(of: "f").isEmpty)
    }

    @Test("cancelling a running input tells its container, and stops the container after the grace period")
    func cancellationGrace() throws {
        let harness = Harness { $0.cancellationGrace = .seconds(5) }
        let client = try harness.client()
        let id = try harness.register("f", on: client)
        try client.invoke(id, "x", callID: "fc-remote")
        let container = try harness.connectContainer(0)
        let attempt = try #require(try container.dispatched().first)
        var cancel = Aloft_V1_CallCancel()
        cancel.callID = "fc-remote"
        try client.send(.callCancel(cancel), requestID: 11)
        let replies = try client.received()
        #expect(replies.compactMap(\.invokeResult).map(\.status) == [.cancelled])
        #expect(replies.contains { if case .ack = $0.body { $0.requestID == 11 } else { false } })
        guard case .inputCancel(let asked) = try container.next()?.body else { throw HarnessError("no cancel sent") }
        #expect(asked.inputIds == [attempt.inputID])

        harness.advance(by: .seconds(4))
        #expect(!harness.runtime.started[0].handle.wasKilled)
        harness.advance(by: .seconds(1))
        #expect(harness.runtime.started[0].handle.wasKilled)
        #expect(harness.containers(of: "f").isEmpty)
    }

    @Test("containers that keep exiting before they connect fail the backlog, naming the cause")
    func startFailureCap() throws {
        let harness = Harness { $0.maxConsecutiveStartFailures = 3 }
        let client = try harness.client()
        let id = try harness.register("f", on: client)
        try client.invoke(id, "x")
        for index in 0..<3 {
            #expect(try client.next() == nil)
            harness.exit(index, status: 42)
        }
        let result = try #require(try client.next()?.invokeResult)
        #expect(result.status == .internalFailure)
        #expect(result.error.message.contains("failed to start 3 times in a row (last: exited with status 42)"))
        #expect(harness.runtime.started.count == 3)
    }

    @Test("a runtime that cannot start a container counts as a start failure, not a crash")
    func runtimeStartThrows() throws {
        let harness = Harness { $0.maxConsecutiveStartFailures = 2 }
        let client = try harness.client()
        let id = try harness.register("f", on: client)
        harness.runtime.failNextStarts(2)
        try client.invoke(id, "x")
        let result = try #require(try client.next()?.invokeResult)
        #expect(result.status == .internalFailure)
        #expect(result.error.message.contains("could not be started: no processes left"))
    }

    @Test("the reaper stops a container idle for its scaledown window")
    func reaper() throws {
        let harness = Harness()
        let client = try harness.client()
        let id = try harness.register("f", options: FunctionOptions(scaledownWindow: .seconds(10)), on: client)
        try client.invoke(id, "x")
        let container = try harness.connectContainer(0)
        try container.answer(try #require(try container.dispatched().first).inputID, success)
        harness.advance(by: .seconds(9))
        #expect(try container.received().isEmpty)
        harness.advance(by: .seconds(2))  // the window, and the reaper's next round
        let frames = try container.received()
        #expect(frames.contains { if case .containerStop = $0.body { true } else { false } })
        #expect(harness.containers(of: "f").allSatisfy { $0.isStopping })
    }

    @Test("at the container limit each container takes its slots and the prefetch queued behind them")
    func pipeliningAtTheLimit() throws {
        let harness = Harness { $0.prefetchPerContainer = 4 }
        let client = try harness.client()
        let id = try harness.register("f", options: FunctionOptions(maxContainers: 1), on: client)
        for i in 0..<10 { try client.invoke(id, "\(i)", requestID: UInt64(100 + i)) }
        let container = try harness.connectContainer(0)
        var dispatched = try container.dispatched()
        #expect(dispatched.count == 5)  // 1 slot + 4 queued
        #expect(dispatched.map(\.data) == (0..<5).map { Data("\($0)".utf8) })
        try container.answer(dispatched[0].inputID, success)
        dispatched = try container.dispatched()
        #expect(dispatched.map(\.data) == [Data("5".utf8)])  // one in, one out
        #expect(try client.next()?.requestID == 100)
    }

    @Test("a caller that goes away cancels its remote calls; spawned calls live on")
    func callerLeaves() throws {
        let harness = Harness()
        let client = try harness.client()
        let id = try harness.register("f", options: FunctionOptions(maxContainers: 1), on: client)
        try client.invoke(id, "remote")
        try client.create(id, kind: .spawn, callID: "fc-spawned", inputs: [Data("spawned".utf8)])
        let container = try harness.connectContainer(0)
        let first = try container.dispatched()
        #expect(first.map(\.data) == [Data("remote".utf8), Data("spawned".utf8)])
        try client.close()
        guard case .inputCancel(let cancel) = try container.next()?.body else { throw HarnessError("no cancel sent") }
        #expect(cancel.inputIds == [first[0].inputID])
        try container.answer(first[1].inputID, success)

        let reader = try harness.client()
        var get = Aloft_V1_CallGet()
        get.callID = "fc-spawned"
        try reader.send(.callGet(get), requestID: 13)
        guard case .callGetResult(let result) = try reader.next()?.body else { throw HarnessError("no result") }
        #expect(result.ready && result.result == success)
    }

    @Test("a wait for a spawned call's result answers 'not ready' when its timeout passes")
    func getTimeout() throws {
        let harness = Harness()
        let client = try harness.client()
        let id = try harness.register("f", on: client)
        try client.create(id, kind: .spawn, callID: "fc-wait", inputs: [Data()])
        _ = try client.received()  // the ack
        var get = Aloft_V1_CallGet()
        get.callID = "fc-wait"
        get.timeoutMs = 500
        try client.send(.callGet(get), requestID: 13)
        harness.advance(by: .milliseconds(499))
        #expect(try client.next() == nil)
        harness.advance(by: .milliseconds(1))
        guard case .callGetResult(let result) = try client.next()?.body else { throw HarnessError("no reply") }
        #expect(!result.ready)
    }

    @Test("messages before hello close the connection; a worker host may send only worker messages")
    func roles() throws {
        let harness = Harness()
        let stranger = try Peer(harness: harness)
        try stranger.send(.functionLookup(.init()), requestID: 1)
        #expect(!stranger.channel.isActive)

        let worker = try Peer(harness: harness)
        var hello = Aloft_V1_Hello()
        hello.protocolVersion = AloftLimits.protocolVersion
        hello.role = .worker
        try worker.send(.hello(hello), requestID: 1)
        _ = try worker.received()
        try worker.send(.functionInvoke(.init()), requestID: 2)
        guard case .error(let error) = try worker.next()?.body else { throw HarnessError("no error") }
        #expect(error.code == AloftError.Code.protocolError.rawValue)
        #expect(error.message == "a worker host sends only worker messages")
    }
}

@Suite("Scheduler connections in-process")
struct ConnectionLimitTests {
    @Test("a connection not welcomed within the hello timeout is closed; a welcomed one stays")
    func helloDeadline() throws {
        let harness = Harness { $0.connectionLimits.helloTimeout = .seconds(10) }
        let silent = try Peer(harness: harness)
        let client = try harness.client()
        harness.advance(by: .seconds(9))
        #expect(silent.channel.isActive)
        harness.advance(by: .seconds(1))
        #expect(!silent.channel.isActive)
        #expect(client.channel.isActive)
    }

    @Test("connections past the total cap are closed as they arrive; a closed one makes room")
    func connectionCap() throws {
        let harness = Harness { $0.connectionLimits.total = 2 }
        let first = try harness.client()
        _ = try harness.client()
        let third = try Peer(harness: harness)
        #expect(!third.channel.isActive)
        try first.close()
        let fourth = try harness.client()
        #expect(fourth.channel.isActive)
    }

    @Test("a peer's unwelcomed connections past its cap are closed as they arrive; a welcome makes room")
    func unwelcomedPerPeer() throws {
        let harness = Harness { $0.connectionLimits.unwelcomedPerPeer = 2 }
        let first = try Peer(harness: harness, from: "10.0.0.1")
        let second = try Peer(harness: harness, from: "10.0.0.1")
        let third = try Peer(harness: harness, from: "10.0.0.1")
        #expect(second.channel.isActive)
        #expect(!third.channel.isActive)
        let otherPeer = try Peer(harness: harness, from: "10.0.0.2")
        let overUnixSocket = try Peer(harness: harness)  // no address
        #expect(otherPeer.channel.isActive)
        #expect(overUnixSocket.channel.isActive)
        var hello = Aloft_V1_Hello()
        hello.protocolVersion = AloftLimits.protocolVersion
        hello.role = .client
        try first.send(.hello(hello), requestID: 1)
        #expect(first.channel.isActive)
        let fourth = try Peer(harness: harness, from: "10.0.0.1")
        #expect(fourth.channel.isActive)
        #expect(harness.scheduler.unwelcomedPeers.count(of: "10.0.0.1") == 2)
    }

    @Test("a welcomed client idle past the idle timeout is closed unless it waits for something")
    func idleTimeout() throws {
        let harness = Harness { $0.connectionLimits.idleTimeout = .seconds(60) }
        let idle = try harness.client()
        let talking = try harness.client()
        let waiting = try harness.client()
        let functionID = try harness.register("slow", on: waiting)
        try waiting.invoke(functionID, "1")  // never answered: its container never connects
        harness.advance(by: .seconds(30))
        try talking.send(.functionGetStats(Aloft_V1_FunctionGetStats()), requestID: 5)
        harness.advance(by: .seconds(35))
        #expect(!idle.channel.isActive)
        #expect(talking.channel.isActive)
        #expect(waiting.channel.isActive)
        harness.advance(by: .seconds(30))
        #expect(!talking.channel.isActive)
        #expect(waiting.channel.isActive)
    }
}
