import AloftCore
import AloftWire
import Foundation
import NIOCore
import Testing

@testable import AloftControlPlane

/// Containers that crash while running inputs (their process dies, their host being fine): the inputs are not
/// lost, do not hold up the backlog, and fail with `containerCrashed` once they have crashed a few containers.
@Suite("Crashing containers, in-process")
struct CrashTests {
    let success = Aloft_V1_Result.success(Array("ok".utf8))
    /// What `ProcessContainerRuntime` reports for a process killed by SIGILL (a Swift trap on x86-64).
    let killedBySIGILL: Int32 = 128 + 4

    /// Container `index` prints `line` on stderr, then its process dies and its connection closes.
    func crash(_ index: Int, of harness: Harness, connection: Peer, printing line: String) throws {
        harness.runtime.started[index].spec.onOutput?(Data("\(line)\n".utf8), true)
        try connection.close()
        harness.exit(index, status: killedBySIGILL)
    }

    @Test(
        "a crashing input runs again after a growing delay, then fails with containerCrashed naming the signal and the container's last lines"
    )
    func crashCap() throws {
        let harness = Harness { $0.maxCrashRetries = 2 }
        let client = try harness.client()
        let id = try harness.register("f", on: client)  // no retries: crashes use none
        try client.invoke(id, "poison")
        var delays: [TimeAmount] = []
        for run in 0..<3 {
            let container = try harness.connectContainer(run)
            let input = try #require(try container.dispatched().first)
            #expect(input.data == Data("poison".utf8))
            try crash(run, of: harness, connection: container, printing: "run \(run) about to crash")
            guard run < 2 else { break }
            #expect(try client.next() == nil)
            // Not at once: the next container starts when the input's delay is over.
            var waited = TimeAmount.zero
            while harness.runtime.started.count == run + 1 && waited < .seconds(60) {
                harness.advance(by: .milliseconds(100))
                waited = waited + .milliseconds(100)
            }
            delays.append(waited)
        }
        #expect(delays == [.seconds(1), .seconds(2)])
        let result = try #require(try client.next()?.invokeResult)
        #expect(result.status == .failure)
        #expect(result.error.code == AloftError.Code.containerCrashed.rawValue)
        #expect(result.error.message.contains("was killed by signal 4 (Illegal instruction)"))
        #expect(result.error.message.contains("the input ran 3 times"))
        #expect(result.error.message.contains("run 2 about to crash"))
        #expect(harness.runtime.started.count == 3)
    }

    @Test(
        "a container killed at its memory limit fails the inputs it ran with outOfMemory, naming the limit, at once; the next input gets a fresh container"
    )
    func outOfMemory() throws {
        let harness = Harness()
        let client = try harness.client()
        let options = FunctionOptions(memory: .init(request: 64, limit: 64)).concurrent(maxInputs: 2)
        let id = try harness.register("f", options: options, on: client)
        #expect(harness.runtime.started.isEmpty)
        try client.invoke(id, "big", requestID: 10)
        try client.invoke(id, "small", requestID: 11)
        let container = try harness.connectContainer(0)
        #expect(harness.runtime.started[0].spec.resources.memory.limit == 64)
        #expect(try container.dispatched().count == 2)
        harness.runtime.started[0].handle.wasKilledAtMemoryLimit = true
        try container.close()
        harness.exit(0, status: 128 + SIGKILL)
        for _ in 0..<2 {
            let result = try #require(try client.next()?.invokeResult)
            #expect(result.status == .failure)
            #expect(result.error.code == AloftError.Code.outOfMemory.rawValue)
            #expect(result.error.message.contains("memory limit of 64 MiB"), "\(result.error.message)")
        }
        // Not run again: no container was started for them (a new call is what starts one).
        #expect(harness.runtime.started.count == 1)
        try client.invoke(id, "next", requestID: 12)
        harness.advance(by: .seconds(5))  // past the pool's crash backoff
        #expect(harness.runtime.started.count == 2)
        let fresh = try harness.connectContainer(1)
        #expect(try fresh.dispatched().map(\.data) == [Data("next".utf8)])
    }

    @Test("an input that was running when its container crashed runs alone, so that a healthy neighbour is not failed")
    func suspectRunsAlone() throws {
        let harness = Harness { $0.maxCrashRetries = 1 }
        let client = try harness.client()
        let id = try harness.register("f", options: FunctionOptions(maxInputs: 2, maxContainers: 1), on: client)
        try client.invoke(id, "poison", requestID: 10)
        try client.invoke(id, "healthy", requestID: 11)
        let first = try harness.connectContainer(0)
        #expect(try first.dispatched().count == 2)  // both run there: neither is a suspect yet
        try crash(0, of: harness, connection: first, printing: "crash")

        var answered: [UInt64: Aloft_V1_Result] = [:]
        var index = 1
        while answered.count < 2 && index < 6 {
            harness.advance(by: .seconds(3))
            guard harness.runtime.started.count > index else { continue }
            let container = try harness.connectContainer(index)
            let sent = try container.dispatched()
            #expect(sent.count == 1)  // though it takes two at once
            if sent.first?.data == Data("healthy".utf8) {
                try container.answer(sent[0].inputID, success)
                try container.close()
                harness.exit(index, status: 0)
            } else {
                try crash(index, of: harness, connection: container, printing: "crash")
            }
            for frame in try client.received() {
                if case .invokeResult(let reply) = frame.body { answered[frame.requestID] = reply.result }
            }
            index += 1
        }
        #expect(answered[11] == success)
        #expect(answered[10]?.error.code == AloftError.Code.containerCrashed.rawValue)
    }

    @Test("a connection that closes while inputs run waits a moment for the exit status, and is a crash without one")
    func closeWithoutExit() throws {
        let harness = Harness()
        let client = try harness.client()
        let id = try harness.register("f", on: client)
        try client.invoke(id, "x")
        let container = try harness.connectContainer(0)
        _ = try #require(try container.dispatched().first)
        try container.close()
        #expect(harness.containers(of: "f").map(\.isDisconnected) == [true])
        harness.advance(by: .seconds(1))
        #expect(harness.containers(of: "f").isEmpty)
        #expect(harness.runtime.started[0].handle.wasKilled)
        harness.advance(by: .seconds(1))  // the crash's re-run delay
        #expect(harness.runtime.started.count == 2)
        let second = try harness.connectContainer(1)
        let rerun = try #require(try second.dispatched().first)
        try second.answer(rerun.inputID, success)
        #expect(try client.next()?.invokeResult == success)
    }

    @Test("a container stopped by the scheduler is not a crash: its other running inputs run again at once")
    func stopIsNotACrash() throws {
        let harness = Harness()
        let client = try harness.client()
        let id = try harness.register(
            "f", options: FunctionOptions(timeout: .seconds(10), maxInputs: 2, maxContainers: 1), on: client)
        try client.invoke(id, "slow", requestID: 10)
        let first = try harness.connectContainer(0)
        #expect(try first.dispatched().map(\.data) == [Data("slow".utf8)])
        harness.advance(by: .seconds(5))
        try client.invoke(id, "sibling", requestID: 11)
        #expect(try first.dispatched().map(\.data) == [Data("sibling".utf8)])
        harness.advance(by: .seconds(5))  // "slow" times out: its container is killed, "sibling" goes back
        #expect(harness.runtime.started[0].handle.wasKilled)
        #expect(try client.next()?.invokeResult?.status == .timeout)
        #expect(harness.runtime.started.count == 2)  // no crash backoff, no re-run delay
        let second = try harness.connectContainer(1)
        #expect(try second.dispatched().map(\.data) == [Data("sibling".utf8)])
    }

    @Test("a container's output tail keeps its last lines and the head of a crash report, not its registers")
    func outputTail() {
        let prefix = ContainerSpec.outputPrefix(functionName: "f", containerID: "ctr-1")
        let tail = OutputTail(linePrefix: prefix)
        tail.append(Data((0..<30).map { "\(prefix)line \($0)\n" }.joined().utf8))
        tail.append(Data("\(prefix)\(String(repeating: "x", count: 1000))\n".utf8))
        let report = """
            *** Signal 4: Backtracing from 0x1... done ***

            *** Program crashed: Illegal instruction at 0x1 ***
            Thread 0 "main":
              0 0x2 read + 76 in libc.so.6
            Thread 3 crashed:
              0 0x1 main + 416 in f
              1 0x3 start + 12 in f
            Registers:
            rax 0x0000000000000001  1
            Images (20 omitted):
            """
        tail.append(Data(report.split(separator: "\n").map { "\(prefix)\($0)\n" }.joined().utf8))
        let kept = tail.snapshot
        #expect(kept.prefix(19) == ArraySlice((11..<30).map { "line \($0)" }))
        #expect(kept[19] == String(repeating: "x", count: OutputTail.lineLimit) + "…")
        #expect(
            Array(kept.dropFirst(20)) == [
                "*** Program crashed: Illegal instruction at 0x1 ***", "Thread 3 crashed:", "  0 0x1 main + 416 in f",
                "  1 0x3 start + 12 in f",
            ])
    }

    @Test("crash backoffs grow and are capped")
    func backoffs() {
        #expect(Autoscaler.crashBackoff(consecutiveCrashes: 0) == .zero)
        #expect(
            (1...7).map { Autoscaler.crashBackoff(consecutiveCrashes: $0) }
                == [250, 500, 1000, 2000, 4000, 8000, 8000].map { TimeAmount.milliseconds($0) })
        #expect(Autoscaler.crashBackoff(consecutiveCrashes: 1000) == .seconds(8))
        #expect(
            (1...7).map { Autoscaler.crashRerunDelay(crashes: $0) }
                == [1, 2, 4, 8, 16, 30, 30].map { TimeAmount.seconds($0) })
    }
}
