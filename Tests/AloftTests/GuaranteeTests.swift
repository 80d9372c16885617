import Aloft
import Foundation
import Testing

/// Guarantees the README states about failures that no other test checked (issue 17).
@Suite("Stated guarantees", .serialized, .timeLimit(.minutes(5)))
struct GuaranteeTests {
    @Test("invalidArgument, notFound and payloadTooLarge fail at once, without using the function's retries")
    func notRetried() async throws {
        // With a retry 30 s after a failure, a retried input could not fail in under 30 s.
        let options = FunctionOptions(
            retries: Retries(maxRetries: 1, backoffCoefficient: 1, initialDelay: .seconds(30)))
        let app = App("not-retried", configuration: fixtures.configuration)
        let undecodable: Function<String, Int> = app.lookup("square", options: options)  // square takes an Int
        let missing: Function<Int, Int> = app.lookup("no_such_function", options: options)
        let tooLarge: Function<Int, String> = app.lookup("big_result", options: options)  // a 3 MiB result
        let started = ContinuousClock.now
        #expect(await aloftError { _ = try await undecodable.remote("seven") }?.code == .invalidArgument)
        #expect(await aloftError { _ = try await missing.remote(1) }?.code == .notFound)
        #expect(await aloftError { _ = try await tooLarge.remote(3 << 20) }?.code == .payloadTooLarge)
        #expect(ContinuousClock.now - started < .seconds(25))
    }

    @Test("a cancelled input's output, sent when its body ended anyway, is dropped; its container serves on")
    func lateOutputOfACancelledInput() async throws {
        // minContainers 1: its one container, idle between the two inputs, must not be stopped to make room for
        // another test's function when the host is full (the control plane stops idle containers above their
        // function's desired count for that, docs/server.md "Placement").
        let function: Function<String, Int32> = App("late-output", configuration: fixtures.configuration).lookup(
            "wait_for_release", options: FunctionOptions(minContainers: 1, maxContainers: 1))
        let (path, next) = (temporaryPath("aloft-late"), temporaryPath("aloft-late-next"))
        defer {
            for file in [path, path + ".release", next, next + ".release"] {
                try? FileManager.default.removeItem(atPath: file)
            }
        }
        let call = try await function.spawn(path)
        #expect(try await eventually { FileManager.default.fileExists(atPath: path) })
        let container = try #require(Int32(try String(contentsOfFile: path, encoding: .utf8)))
        try await call.cancel()
        // The body does not look at cancellation: let it end now (well within the 5 s grace), sending its output.
        #expect(FileManager.default.createFile(atPath: path + ".release", contents: nil))
        #expect(FileManager.default.createFile(atPath: next + ".release", contents: nil))
        // One container, one input at a time: the next input runs there once that output has come back.
        #expect(try await function.remote(next) == container)
        #expect(await aloftError { try await call.get() }?.code == .cancelled)
    }

    @Test(
        "on a server killed with -9, spawnMap inputs not yet run are run after the restart; gets and streams in flight fail with connectionFailed"
    )
    func acrossAKill() async throws {
        let directory = temporaryPath("aloft-server")
        let marks = temporaryPath("aloft-spawn-map-marks")
        try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
        defer { for path in [directory, marks] { try? FileManager.default.removeItem(atPath: path) } }
        let port = try freePort()
        var server = try await ServerProcess(dataDirectory: directory, arguments: ["--port", String(port)])
        let app = server.app("guarantees")
        // One container, a second and a half per input: ten inputs take 15 s, the kill lands in the first few.
        let slow: Function<String, Int> = app.lookup("record_and_sleep", options: FunctionOptions(maxContainers: 1))
        let paths = (0..<10).map { "\(marks)/\($0)" }
        try await slow.spawnMap(paths.map { "\($0):1.5" })
        // A spawned call whose result is awaited, and a generator stream, both in flight at the kill.
        let sleepy: Function<Double, Int> = app.lookup("sleepy")
        let waited = try await sleepy.spawn(30)
        let getting = Task { try await waited.get(timeout: .seconds(120)) }
        let streamMarker = temporaryPath("aloft-never")
        let generator: GeneratorFunction<String, String> = app.lookupGenerator("wait_between_items")
        var items = generator.remoteStream(streamMarker).makeAsyncIterator()
        #expect(try await items.next() == "first")

        #expect(try await eventually { paths.contains(where: FileManager.default.fileExists(atPath:)) })
        await server.kill()
        let ranBefore = paths.filter(FileManager.default.fileExists(atPath:)).count
        #expect(ranBefore < 10, "every input ran before the kill: it landed too late to check anything")

        let getError = await aloftError { _ = try await getting.value }
        #expect(getError?.code == .connectionFailed, "\(String(describing: getError))")
        let streamError = await aloftError { _ = try await items.next() }
        #expect(streamError?.code == .connectionFailed, "\(String(describing: streamError))")

        server = try await ServerProcess(dataDirectory: directory, arguments: ["--port", String(port)])
        #expect(
            try await eventually(timeout: .seconds(60)) { paths.allSatisfy(FileManager.default.fileExists(atPath:)) })
        #expect(await server.terminate() == 0)
    }

    @Test(
        "an abandoned map cancels its running input in its container, and its inputs not yet started never run; a spawn goes on"
    )
    func abandonedMapCancelsItsInputs() async throws {
        let directory = temporaryPath("aloft-abandoned")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // One container, one input at a time: the first input runs, the others wait.
        let waiter: Function<String, Int> = App("abandoned-map", configuration: fixtures.configuration)
            .lookup("async_wait_for_cancel", options: FunctionOptions(maxContainers: 1))
        let paths = (0..<4).map { "\(directory)/\($0)" }
        let spawned =
            try await App("abandoned-map-spawn", configuration: fixtures.configuration)
            .lookup("sleepy", options: FunctionOptions()).spawn(2.0) as FunctionCall<Int>
        let consumer = Task { for try await _ in waiter.map(paths) {} }
        #expect(try await eventually { FileManager.default.fileExists(atPath: paths[0]) })
        consumer.cancel()  // the stream is abandoned
        _ = await consumer.result
        #expect(try await eventually { FileManager.default.fileExists(atPath: paths[0] + ".cancelled") })
        #expect(try await spawned.get(timeout: .seconds(60)) == 0)  // the spawned call went on
        // The container is free again: had the other inputs not been cancelled, the next would have started.
        try await Task.sleep(for: .seconds(1))
        #expect(!paths.dropFirst().contains(where: FileManager.default.fileExists(atPath:)))
    }

    @Test("a caller killed mid-call cancels its .remote input in the container; the call it spawned goes on")
    func closedCallerConnectionCancels() async throws {
        let directory = temporaryPath("aloft-server")
        let running = temporaryPath("aloft-running")
        let spawned = temporaryPath("aloft-spawned")
        defer {
            for path in [directory, running, running + ".cancelled", spawned] {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        let server = try await ServerProcess(dataDirectory: directory)
        let caller = try ChildProcess.product(
            "aloft-test-app", arguments: ["caller_then_hang", running, spawned],
            environment: ["ALOFT_CONTROL_PLANE": server.address, "ALOFT_TOKEN": server.token])
        #expect(try await eventually { FileManager.default.fileExists(atPath: running) })  // its input is running
        await caller.kill()  // its connection closes with it
        #expect(try await eventually { FileManager.default.fileExists(atPath: running + ".cancelled") })
        let callID = try #require(caller.stdout.split(separator: "\n").first.map(String.init))
        let call = FunctionCall<Int>(id: callID, app: server.app("fixtures"))
        #expect(try await call.get(timeout: .seconds(60)) == 1)  // the spawned input ran, once, to its end
        #expect(await server.terminate() == 0)
    }
}
