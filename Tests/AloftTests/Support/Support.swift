import Aloft
@_exported import AloftTestFixtures
import Foundation
import Testing

/// Where SwiftPM put the products: the test binary's own folder.
let productsDirectory = URL(
    fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? CommandLine.arguments[0]
)
.deletingLastPathComponent()

/// The app whose containers run `aloft-test-app` (Tests/TestApp/main.swift), on this process's embedded control plane.
let fixtures = App(
    "fixtures",
    configuration: AppConfiguration(
        containerExecutable: productsDirectory.appendingPathComponent("aloft-test-app").path,
        containerArguments: []
    ))

// Handles on the functions that Tests/TestApp/main.swift defines, with the same types.
let square: Function<Int, Int> = fixtures.lookup("square")
let processID: Function<NoArguments, Int32> = fixtures.lookup("process_id")
let failPlain: Function<String, Int> = fixtures.lookup("fail_plain")
let failRegistered: Function<Int, Int> = fixtures.lookup("fail_registered")
let failOnMultipleOf7: Function<Int, Int> = fixtures.lookup("fail_on_multiple_of_7")
let sleepy: Function<Double, Int> = fixtures.lookup("sleepy")
let writePIDAndSleep: Function<String, Int> = fixtures.lookup("write_pid_and_sleep")
let touchFile: Function<String, Bool> = fixtures.lookup("touch_file")
let bigResult: Function<Int, String> = fixtures.lookup("big_result")
let byteCount: Function<String, Int> = fixtures.lookup("byte_count")
let reverseBytes: Function<Data, Data> = fixtures.lookup("reverse_bytes")
let repeatText: Function<ArgumentPair<String, Int>, String> = fixtures.lookup("repeat_text")
let asyncFunction: Function<NoArguments, Int> = fixtures.lookup("async_function")
let blockingCaller: Function<Int, Int> = fixtures.lookup("blocking_caller")

/// Polls `condition` until it holds or `timeout` passes; for effects in other processes that nothing signals.
func eventually(timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

/// `eventually` for a condition that is itself async (the async form of a call, which must not block a thread).
func eventuallyAsync(timeout: Duration = .seconds(30), _ condition: () async -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

/// A fresh path in the temporary directory, removed at the end of the test by the caller's `defer`.
func temporaryPath(_ prefix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID())").path
}

/// Kills, with SIGKILL, every process whose pid appears in `pidFile`, until `isDone` says the work finished.
/// Returns how many it killed.
func killEveryWriter(
    of pidFile: String, until isDone: @Sendable () -> Bool, timeout: Duration = .seconds(60)
) async throws -> Int {
    var killed: Set<Int32> = []
    let deadline = ContinuousClock.now + timeout
    while !isDone() && ContinuousClock.now < deadline {
        if let pid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap({ Int32($0) }), pid > 0,
            !killed.contains(pid)
        {
            kill(pid, SIGKILL)
            killed.insert(pid)
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    return killed.count
}

/// Resident memory of this process, in bytes.
func residentMemory() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kib * 1024
}

/// The AloftError a throwing expression threw, failing the test if it threw something else or nothing.
func aloftError<T>(_ body: () async throws -> T, sourceLocation: SourceLocation = #_sourceLocation) async -> AloftError?
{
    do {
        _ = try await body()
        Issue.record("expected an AloftError, got a value", sourceLocation: sourceLocation)
    } catch let error as AloftError {
        return error
    } catch {
        Issue.record("expected an AloftError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

extension Sequence {
    /// `map` with an async transform, one element after another.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
