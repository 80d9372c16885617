import Aloft
import Foundation
import NIOCore
import Synchronization
import Testing

@testable import AloftClient

/// Everything here runs on the real path: this test process is the caller with an embedded control plane on a
/// loopback socket, and each function body runs in an `aloft-test-app` container process.
/// Serialized, because the async-usage warning count is process-wide.
@Suite("End to end", .serialized, .timeLimit(.minutes(5)))
struct EndToEndTests {
    // MARK: The seed page and the examples

    @Test("seed-example prints 420 and gathers 100 results")
    func seedExample() async throws {
        let run = try await runProduct("seed-example")
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("420"))
        #expect(lines.contains("gathered 100 results"))
    }

    @Test("hello runs the body in a container and forwards its output with a prefix")
    func helloExampleForwardsContainerOutput() async throws {
        let run = try await runProduct("hello")
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.contains("square(7) = 49"))
        let forwarded = run.stdout.split(separator: "\n").filter {
            $0.hasPrefix("[square ctr-") && $0.contains("squaring 7 in process")
        }
        #expect(forwarded.count == 1, "stdout: \(run.stdout)")
        let callerPID = run.stdout.split(separator: "\n").first { $0.hasPrefix("caller process ") }?.split(
            separator: " "
        ).last
        let callerLine = try #require(callerPID, "stdout: \(run.stdout)")
        let forwardedLine = try #require(forwarded.first)
        #expect(!forwardedLine.hasSuffix(" \(callerLine)"))
    }

    @Test("the body runs in a process other than the caller's")
    func bodyRunsInAnotherProcess() async throws {
        let containerPID = try await processID.remote()
        #expect(containerPID != ProcessInfo.processInfo.processIdentifier)
        #expect(containerPID > 0)
    }

    // MARK: Both forms

    @Test("async form from async code")
    func asyncForm() async throws {
        #expect(try await square.remote(12) == 144)
        #expect(try await asyncFunction.remote() == 420)  // an async body calling another function's async form
        #expect(try await blockingCaller.remote(3) == 10)  // a blocking body calling the blocking form
    }

    @Test("blocking form from synchronous code (a plain thread), without the async-usage warning")
    func blockingFormFromSyncCode() async throws {
        let warningsBefore = AloftRuntime.shared.asyncUsageWarningCount
        let result = try await onPlainThread { try square.remote(9) }
        #expect(result == 81)
        let gathered = try await onPlainThread { () throws -> [Int] in
            let calls = try (0..<10).map { try square.spawn($0) }
            return try FunctionCall.gather(calls)
        }
        #expect(gathered == (0..<10).map { $0 * $0 })
        #expect(AloftRuntime.shared.asyncUsageWarningCount == warningsBefore)
    }

    @Test("blocking form inside async code works and counts an async-usage warning")
    func blockingFormInAsyncContextWarns() async throws {
        let warningsBefore = AloftRuntime.shared.asyncUsageWarningCount
        func synchronousHelper() throws -> Int { try square.remote(4) }
        #expect(try synchronousHelper() == 16)
        #expect(AloftRuntime.shared.asyncUsageWarningCount == warningsBefore + 1)
    }

    @Test("blocking form on the runtime's own event loop throws instead of deadlocking")
    func blockingFormOnRuntimeLoopThrows() async throws {
        let loop = AloftRuntime.shared.eventLoopGroup.any()
        let outcome = try await loop.submit { () -> Result<Int, any Error> in
            Result { try square.remote(2) }
        }.get()
        guard case .failure(let error as AloftError) = outcome else {
            Issue.record("expected an AloftError, got \(outcome)")
            return
        }
        #expect(error.code == .blockingCallOnRuntimeThread)
        #expect(error.message.contains("try await"))
    }

    @Test(".local runs the body in this process, in both forms")
    func localCalls() async throws {
        let app = App("local-only")
        let double = app.function("double") { (x: Int) -> Int in x * 2 }
        let asyncTriple = app.function("async_triple") { (x: Int) async -> Int in x * 3 }
        #expect(try await double.local(21) == 42)
        #expect(try await asyncTriple.local(2) == 6)
        #expect(try await onPlainThread { try asyncTriple.local(3) } == 9)
    }

    // MARK: spawn, get, cancel, look-up, gather

    @Test("spawn: get(timeout: .zero) before it is done throws timeout; later the value")
    func spawnAndGet() async throws {
        let call = try await sleepy.spawn(1.0)
        #expect(call.id.hasPrefix("fc-"))
        let early = await aloftError { try await call.get(timeout: .zero) }
        #expect(early?.code == .timeout)
        #expect(try await call.get() == 0)
        #expect(try await call.get(timeout: .zero) == 0)  // results stay until the control plane stops
    }

    @Test("cancel: the call ends as cancelled")
    func cancel() async throws {
        let call = try await sleepy.spawn(3.0)
        try await call.cancel()
        let error = await aloftError { try await call.get() }
        #expect(error?.code == .cancelled)
    }

    @Test("a call is found again by its id")
    func lookUpCallByID() async throws {
        let call = try await square.spawn(25)
        let again = FunctionCall<Int>(id: call.id, app: fixtures)
        #expect(try await again.get() == 625)
        let missing = FunctionCall<Int>(id: "fc-0000", app: fixtures)
        #expect(await aloftError { try await missing.get() }?.code == .notFound)
    }

    @Test("gather returns results in argument order")
    func gatherKeepsOrder() async throws {
        let calls = try await withThrowingTaskGroup(of: (Int, FunctionCall<Int>).self) { group in
            for x in 0..<20 { group.addTask { (x, try await square.spawn(x)) } }
            return try await group.reduce(into: [(Int, FunctionCall<Int>)]()) { $0.append($1) }.sorted { $0.0 < $1.0 }
                .map(\.1)
        }
        #expect(try await FunctionCall.gather(calls) == (0..<20).map { $0 * $0 })
    }

    // MARK: map

    @Test("map keeps input order by default")
    func mapOrdered() async throws {
        var results: [Int] = []
        for try await value in square.map(0..<300) { results.append(value) }
        #expect(results == (0..<300).map { $0 * $0 })
    }

    @Test("map with orderOutputs: false yields every result")
    func mapUnordered() async throws {
        var results: [Int] = []
        for try await value in square.map(0..<300, orderOutputs: false) { results.append(value) }
        #expect(results.sorted() == (0..<300).map { $0 * $0 })
    }

    @Test("map with returnExceptions yields failures at their index")
    func mapReturnExceptions() async throws {
        var results: [Result<Int, any Error>] = []
        for try await result in failOnMultipleOf7.map(0..<20, returnExceptions: true) { results.append(result) }
        #expect(results.count == 20)
        for (index, result) in results.enumerated() {
            switch result {
            case .success(let value):
                #expect(index % 7 != 0 && value == index)
            case .failure(let error):
                #expect(index % 7 == 0)
                #expect((error as? AloftError)?.remote?.typeName.hasSuffix("PlainError") == true)
            }
        }
    }

    @Test("map over no inputs yields nothing")
    func mapEmpty() async throws {
        var count = 0
        for try await _ in square.map([Int]()) { count += 1 }
        #expect(count == 0)
        #expect(Array(square.map([Int]()).blocking).isEmpty)
    }

    @Test("an error mid-map is thrown")
    func mapErrorMidStream() async throws {
        var received: [Int] = []
        let error = await aloftError {
            for try await value in failOnMultipleOf7.map(1..<30) { received.append(value) }
        }
        #expect(error?.code == .remoteError)
        #expect(error?.remote?.functionName == "fail_on_multiple_of_7")
        // In input order up to the failing input 7, and nothing after it.
        #expect(received.count <= 6 && received == Array(1..<(received.count + 1)), "received: \(received)")
    }

    @Test("two-argument functions: remote(a, b) and starmap over tuples")
    func starmap() async throws {
        #expect(try await repeatText.remote("ab", 3) == "ababab")
        var results: [String] = []
        for try await text in repeatText.starmap([("x", 1), ("y", 2), ("z", 0)]) { results.append(text) }
        #expect(results == ["x", "yy", ""])
        var empty = 0
        for try await _ in repeatText.starmap([(String, Int)]()) { empty += 1 }
        #expect(empty == 0)
    }

    @Test("blocking map from synchronous code")
    func blockingMap() async throws {
        let results = try await onPlainThread { try square.map(0..<50).blocking.map { try $0.get() } }
        #expect(results == (0..<50).map { $0 * $0 })
    }

    @Test("a 100,000-input map runs within its window and bounded memory")
    func largeMapBoundedMemory() async throws {
        MapStatistics.reset()
        let memoryBefore = residentMemory()
        var count = 0
        var sum = 0
        for try await value in square.map(0..<100_000) {
            count += 1
            sum &+= value
        }
        #expect(count == 100_000)
        #expect(sum == (0..<100_000).reduce(0) { $0 &+ $1 * $1 })
        #expect(MapStatistics.maxInFlight <= Function<Int, Int>.defaultMapWindow)
        #expect(MapStatistics.maxInFlight > 0)
        // Generous: the window is 1,000 inputs; holding all 100,000 inputs and results would not fit this either.
        #expect(residentMemory() - memoryBefore < 200 * 1024 * 1024)
    }

    @Test("forEach runs every input; spawnMap queues every input")
    func forEachAndSpawnMap() async throws {
        let marks = FileManager.default.temporaryDirectory.appendingPathComponent("aloft-for-each-\(UUID())")
        try FileManager.default.createDirectory(at: marks, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: marks) }
        let marked = (0..<50).map { marks.appendingPathComponent("\($0)").path }
        try await touchFile.forEach(marked)
        // forEach returned: every input ran (no waiting here).
        #expect(marked.allSatisfy(FileManager.default.fileExists(atPath:)))
        let failure = await aloftError { try await failOnMultipleOf7.forEach(1..<10) }
        #expect(failure?.code == .remoteError)
        try await failOnMultipleOf7.forEach(1..<10, ignoreExceptions: true)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aloft-spawn-map-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let paths = (0..<5).map { directory.appendingPathComponent("\($0)").path }
        try await touchFile.spawnMap(paths)
        #expect(try await eventually { paths.allSatisfy(FileManager.default.fileExists(atPath:)) })
    }

    // MARK: Errors

    @Test("a throw in the body arrives with its type name, message, function and container")
    func remoteErrorDetails() async throws {
        let error = await aloftError { try await failPlain.remote("x") }
        #expect(error?.code == .remoteError)
        #expect(error?.remote?.typeName.hasSuffix("PlainError") == true)
        #expect(error?.remote?.message == "plain failure")
        #expect(error?.remote?.functionName == "fail_plain")
        #expect(error?.remote?.containerID.hasPrefix("ctr-") == true)
    }

    @Test("a registered Codable error is rethrown as itself")
    func registeredErrorRethrown() async throws {
        fixtures.registerError(FixtureError.self)
        do {
            _ = try await failRegistered.remote(7)
            Issue.record("expected FixtureError")
        } catch let error as FixtureError {
            #expect(error == FixtureError(reason: "registered", number: 7))
        }
    }

    @Test("an unknown function is notFound")
    func unknownFunction() async throws {
        let missing: Function<Int, Int> = fixtures.lookup("no_such_function")
        let error = await aloftError { try await missing.remote(1) }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("no_such_function") == true)
    }

    @Test("an argument the body cannot decode is invalidArgument")
    func undecodableArgument() async throws {
        let wrongTypes: Function<String, Int> = fixtures.lookup("square")
        let error = await aloftError { try await wrongTypes.remote("not a number") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("square") == true)
    }

    @Test("an oversized argument or result is payloadTooLarge, naming the limit")
    func oversizedPayloads() async throws {
        let threeMiB = 3 * 1024 * 1024
        let argument = await aloftError { try await byteCount.remote(String(repeating: "a", count: threeMiB)) }
        #expect(argument?.code == .payloadTooLarge)
        #expect(argument?.message.contains("2097152") == true)
        let result = await aloftError { try await bigResult.remote(threeMiB) }
        #expect(result?.code == .payloadTooLarge)
        #expect(result?.message.contains("2097152") == true)
        // under the limit
        #expect(try await byteCount.remote(String(repeating: "a", count: 1024 * 1024)) == 1024 * 1024)
    }

    @Test(
        "Data travels as raw bytes both ways; a Data parameter also takes JSON (base64); a mismatch is invalidArgument")
    func rawBytePayloads() async throws {
        let bytes = Data([0, 1, 2, 255, 0x7B, 0x22] + (0..<100_000).map { UInt8(truncatingIfNeeded: $0) })
        #expect(try await reverseBytes.remote(bytes) == Data(bytes.reversed()))
        #expect(try await reverseBytes.remote(Data()) == Data())

        // What a caller in another language sends: the JSON form of the same argument.
        let jsonCaller: Function<String, Data> = fixtures.lookup("reverse_bytes")
        #expect(try await jsonCaller.remote(Data([1, 2, 3]).base64EncodedString()) == Data([3, 2, 1]))

        let wrongTypes: Function<Data, Int> = fixtures.lookup("square")
        let error = await aloftError { try await wrongTypes.remote(Data([1])) }
        #expect(error?.code == .invalidArgument)
    }

    @Test("a Data argument is sent and stored as its raw bytes, not as JSON or base64")
    func rawBytesOnTheWire() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        // Small enough to sit in one database page, so the stored input is one contiguous run of bytes.
        let bytes = Data((0..<600).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 11) })
        let hold: Function<Data, Int> = server.app("raw-bytes").lookup("hold_bytes")
        let call = try await hold.spawn(bytes)
        // The server stored the input as it came off the wire: the bytes themselves, in the database or its log.
        func stored(_ pattern: Data) -> Bool {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return files.contains { file in
                FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(file))?
                    .range(of: pattern) != nil
            }
        }
        #expect(try await eventually { stored(bytes) })
        #expect(!stored(Data(bytes.base64EncodedString().prefix(200).utf8)))
        try await call.cancel()
        #expect(await server.terminate() == 0)
    }

    @Test("an input whose containers keep being killed fails with containerCrashed after 2 re-runs, not a hang")
    func killedContainer() async throws {
        let path = temporaryPath("aloft-pid")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let done = Atomic(false)
        let call = Task {
            defer { done.store(true, ordering: .relaxed) }
            return try await writePIDAndSleep.remote(path)
        }
        let kills = try await killEveryWriter(of: path, until: { done.load(ordering: .relaxed) })
        let error = await aloftError { try await call.value }
        #expect(error?.code == .containerCrashed)
        #expect(error?.message.contains("was killed by signal 9 (Killed)") == true)
        #expect(error?.message.contains("the input ran 3 times") == true)
        #expect(kills == 3)  // the first run and 2 re-runs, which use no retries
        #expect(try await square.remote(3) == 9)  // the pool recovers
    }

    @Test("an idle container exits after its scaledown window")
    func idleContainerExits() async throws {
        let shortLived: Function<NoArguments, Int32> = App("idle", configuration: fixtures.configuration)
            .lookup("process_id", options: FunctionOptions(scaledownWindow: .seconds(5)))
        let pid = try await shortLived.remote()
        #expect(kill(pid, 0) == 0)  // warm right after the call (5 s is far more than the next line takes)
        #expect(try await eventually(timeout: .seconds(30)) { kill(pid, 0) != 0 })
    }

    @Test("an input whose container is killed runs again, without using a retry")
    func lostInputIsRerun() async throws {
        let path = temporaryPath("aloft-marker")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let hangOnce: Function<String, String> = fixtures.lookup("hang_once")  // no retries configured
        let done = Atomic(false)
        let call = Task {
            defer { done.store(true, ordering: .relaxed) }
            return try await hangOnce.remote(path)
        }
        let kills = try await killEveryWriter(of: path, until: { done.load(ordering: .relaxed) })
        #expect(try await call.value == "recovered")
        #expect(kills == 1)
    }

    @Test("inputs queued on a container that dies run elsewhere; only the running one that keeps crashing fails")
    func queuedInputsSurviveContainerDeath() async throws {
        let path = temporaryPath("aloft-pid")
        defer { try? FileManager.default.removeItem(atPath: path) }
        // One container: at the limit, the control plane queues the later inputs on it behind the hanging one.
        let squareOrHang: Function<Job, Int> = App("one-container", configuration: fixtures.configuration)
            .lookup("square_or_hang", options: FunctionOptions(maxContainers: 1))
        let jobs = [-1, 2, 3, 4].map { Job(x: $0, pidFile: path) }
        let done = Atomic(false)
        let results = Task {
            defer { done.store(true, ordering: .relaxed) }
            var results: [Result<Int, any Error>] = []
            for try await result in squareOrHang.map(jobs, returnExceptions: true) { results.append(result) }
            return results
        }
        _ = try await killEveryWriter(of: path, until: { done.load(ordering: .relaxed) })
        let outcome = try await results.value
        #expect(outcome.count == 4)
        if case .failure(let error as AloftError) = outcome.first {
            #expect(error.code == .containerCrashed)
        } else {
            Issue.record(
                "the hanging input should fail with containerCrashed, got \(String(describing: outcome.first))")
        }
        #expect(outcome.dropFirst().map { try? $0.get() } == [4, 9, 16])
    }

    @Test("containers that cannot start fail the call instead of hanging")
    func containerThatCannotStart() async throws {
        let broken = App(
            "broken", configuration: AppConfiguration(containerExecutable: "/bin/false", containerArguments: []))
        let function: Function<Int, Int> = broken.lookup("anything")
        let error = await aloftError { try await function.remote(1) }
        #expect(error?.code == .internalFailure)
        #expect(error?.message.contains("failed to start") == true)
    }
}

/// Runs `body` on a new thread that is not part of any Swift concurrency executor: plain synchronous code.
func onPlainThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
