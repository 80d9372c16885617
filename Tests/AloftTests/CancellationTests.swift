import Aloft
import Foundation
import Testing

/// Cancellation reaching the input in its container, on the real path (container processes).
@Suite("Cancellation", .serialized, .timeLimit(.minutes(3)))
struct CancellationTests {
    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    func paths(_ count: Int) -> [String] { (0..<count).map { _ in temporaryPath("aloft-cancel") } }

    func remove(_ paths: [String]) {
        for path in paths {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".cancelled")
        }
    }

    @Test("a wait for a result ends when its task is cancelled; gather throws its first failure at once")
    func waitsEndOnCancellation() async throws {
        let slow = try await sleepy.spawn(120)
        defer { Task { try? await slow.cancel() } }
        let waiting = Task { try await slow.get() }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }

        let failing = try await failPlain.spawn("boom")
        let started = ContinuousClock.now
        let failure = await aloftError { try await FunctionCall.gather([slow, failing]) }
        #expect(failure?.code == .remoteError)
        #expect(ContinuousClock.now - started < .seconds(60), "the slow call takes 120 s")  // generous bound
    }

    @Test("map and generator iteration end promptly when their task is cancelled")
    func iterationEndsOnCancellation() async throws {
        let mapping = Task {
            var results = 0
            for try await _ in sleepy.map([120, 120]) { results += 1 }
            return results
        }
        let waitBetweenItems: GeneratorFunction<String, String> = fixtures.lookupGenerator("wait_between_items")
        let streaming = Task {
            var items: [String] = []
            for try await item in waitBetweenItems.remoteStream(temporaryPath("never-there")) { items.append(item) }
            return items
        }
        try await Task.sleep(for: .seconds(1))  // both are waiting on the wire by now (or soon: either way)
        let started = ContinuousClock.now
        mapping.cancel()
        streaming.cancel()
        _ = await mapping.result
        _ = await streaming.result
        // Without cancellation the map waits 120 s and the stream 30 s; a loaded machine gets a generous bound.
        #expect(ContinuousClock.now - started < .seconds(15))
        if case .success(let results) = await mapping.result { #expect(results == 0) }
    }

    @Test("cancelling a spawned call cancels its async input as a task")
    func asyncInputCancelled() async throws {
        let path = paths(1)[0]
        defer { remove([path]) }
        let function: Function<String, Int> = fixtures.lookup("async_wait_for_cancel")
        let call = try await function.spawn(path)
        #expect(try await eventually { exists(path) })
        try await call.cancel()
        #expect(await aloftError { try await call.get() }?.code == .cancelled)
        #expect(try await eventually(timeout: .seconds(10)) { exists(path + ".cancelled") })
    }

    @Test("a blocking input sees AloftInput.isCancelled")
    func blockingInputCancelled() async throws {
        let path = paths(1)[0]
        defer { remove([path]) }
        let function: Function<String, Int> = fixtures.lookup("blocking_wait_for_cancel")
        let call = try await function.spawn(path)
        #expect(try await eventually { exists(path) })
        try await call.cancel()
        #expect(try await eventually(timeout: .seconds(10)) { exists(path + ".cancelled") })
    }

    @Test("cancelling the caller's task cancels the remote call")
    func callerTaskCancelled() async throws {
        let path = paths(1)[0]
        defer { remove([path]) }
        let function: Function<String, Int> = fixtures.lookup("async_wait_for_cancel")
        let task = Task { try await function.remote(path) }
        #expect(try await eventually { exists(path) })
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await eventually(timeout: .seconds(10)) { exists(path + ".cancelled") })
    }

    @Test("cancelling one of two concurrent async inputs stops only that one")
    func onlyTheCancelledInput() async throws {
        let both = paths(2)
        defer { remove(both) }
        let function: Function<String, Int> = App("cancel-concurrent", configuration: fixtures.configuration)
            .lookup("async_wait_for_cancel", options: FunctionOptions(maxContainers: 1).concurrent(maxInputs: 2))
        let first = try await function.spawn(both[0])
        let second = try await function.spawn(both[1])
        #expect(try await eventually { exists(both[0]) && exists(both[1]) })
        try await first.cancel()
        #expect(try await eventually(timeout: .seconds(10)) { exists(both[0] + ".cancelled") })
        try await Task.sleep(for: .milliseconds(300))
        #expect(!exists(both[1] + ".cancelled"))
        #expect(await aloftError { try await second.get(timeout: .zero) }?.code == .timeout)  // still running
        try await second.cancel()
    }

    @Test("an input that ignores cancellation has its container stopped after the grace period")
    func ignoringInputStopsContainer() async throws {
        let path = paths(1)[0]
        defer { remove([path]) }
        let call = try await writePIDAndSleep.spawn(path)
        var pid: Int32 = 0
        #expect(
            try await eventually {
                pid = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0) } ?? 0
                return pid > 0
            })
        try await call.cancel()
        #expect(await aloftError { try await call.get() }?.code == .cancelled)
        #expect(kill(pid, 0) == 0)  // still running right after the cancel
        #expect(try await eventually(timeout: .seconds(20)) { kill(pid, 0) != 0 })  // stopped after the 5 s grace
    }

    @Test("a container stopped after the grace period takes the processes it started with it")
    func stoppedContainerKillsItsChildren() async throws {
        let path = paths(1)[0]
        defer { remove([path]) }
        let forkSleeperAndSleep: Function<String, Int> = fixtures.lookup("fork_sleeper_and_sleep")
        let call = try await forkSleeperAndSleep.spawn(path)
        var pids: [Int32] = []
        #expect(
            try await eventually {
                pids = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: " ")
                    .compactMap { Int32($0) }
                return pids.count == 2
            })
        try #require(pids.count == 2)
        #expect(isAlive(pids[1]))
        try await call.cancel()
        #expect(try await eventually(timeout: .seconds(20)) { !isAlive(pids[0]) })  // killed after the 5 s grace
        #expect(try await eventually(timeout: .seconds(5)) { !isAlive(pids[1]) }, "its child \(pids[1]) lives on")
    }
}

/// Whether process `pid` exists and has not exited (a zombie nobody reaped yet has).
func isAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let end = stat.lastIndex(of: ")")
    else { return false }
    return stat[stat.index(end, offsetBy: 2)] != "Z"
}
