import Aloft
import Foundation
import Testing

/// Retries and per-attempt timeouts, on the real path (container processes).
@Suite("Retries and timeouts", .serialized, .timeLimit(.minutes(3)))
struct RetryAndTimeoutTests {
    func attempts(in path: String) -> Int {
        (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").count ?? 0
    }

    func countAttempts(_ app: String, retries: Retries) -> Function<Attempt, Int> {
        App(app, configuration: fixtures.configuration).lookup(
            "count_attempts", options: FunctionOptions(retries: retries))
    }

    @Test("a user error uses up the retries, then reaches the caller")
    func retriesExhausted() async throws {
        let path = temporaryPath("aloft-attempts")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let function = countAttempts(
            "retries-exhausted", retries: Retries(maxRetries: 2, backoffCoefficient: 1, initialDelay: .zero))
        let error = await aloftError { try await function.remote(Attempt(path: path, succeedOn: 100)) }
        #expect(error?.code == .remoteError)
        #expect(attempts(in: path) == 3)  // the first attempt and 2 retries
    }

    @Test("failures then success return the value")
    func failuresThenSuccess() async throws {
        let path = temporaryPath("aloft-attempts")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let function = countAttempts(
            "retries-succeed", retries: Retries(maxRetries: 3, backoffCoefficient: 1, initialDelay: .zero))
        #expect(try await function.remote(Attempt(path: path, succeedOn: 3)) == 3)
    }

    @Test("no retries by default")
    func noRetriesByDefault() async throws {
        let path = temporaryPath("aloft-attempts")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let function = countAttempts("retries-none", retries: .none)
        #expect(await aloftError { try await function.remote(Attempt(path: path, succeedOn: 2)) }?.code == .remoteError)
        #expect(attempts(in: path) == 1)
    }

    @Test("retries wait initialDelay × coefficient^(n-1)")
    func backoffDelay() async throws {
        let path = temporaryPath("aloft-attempts")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let function = countAttempts(
            "retries-backoff", retries: Retries(maxRetries: 2, backoffCoefficient: 2, initialDelay: .milliseconds(500)))
        let start = ContinuousClock.now
        #expect(try await function.remote(Attempt(path: path, succeedOn: 3)) == 3)
        #expect(ContinuousClock.now - start >= .milliseconds(1500))  // 0.5 s, then 1 s
    }

    @Test("map retries each input on its own")
    func mapRetriesEachInput() async throws {
        let paths = (0..<5).map { _ in temporaryPath("aloft-attempts") }
        defer { for path in paths { try? FileManager.default.removeItem(atPath: path) } }
        let function = countAttempts(
            "retries-map", retries: Retries(maxRetries: 3, backoffCoefficient: 1, initialDelay: .zero))
        var results: [Int] = []
        for try await attempt in function.map(paths.enumerated().map { Attempt(path: $1, succeedOn: $0 % 3 + 1) }) {
            results.append(attempt)
        }
        #expect(results == [1, 2, 3, 1, 2])
    }

    @Test("a cancelled call is never retried")
    func cancelledNotRetried() async throws {
        let path = temporaryPath("aloft-attempts")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let function = countAttempts(
            "retries-cancel", retries: Retries(maxRetries: 3, backoffCoefficient: 1, initialDelay: .seconds(1)))
        let call = try await function.spawn(Attempt(path: path, succeedOn: 100))
        #expect(try await eventually { attempts(in: path) == 1 })
        try await call.cancel()
        #expect(await aloftError { try await call.get() }?.code == .cancelled)
        try await Task.sleep(for: .seconds(2))  // past the retry delay
        #expect(attempts(in: path) == 1)
    }

    /// The pids `record_pid_and_sleep` wrote to `path`, one per attempt.
    func recordedPIDs(in path: String) -> [Int32] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    @Test("an attempt past its timeout fails with timeout and its container is stopped")
    func timeoutStopsTheAttempt() async throws {
        let path = temporaryPath("aloft-timeout-pids")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sleeper: Function<String, Int> = App("timeout", configuration: fixtures.configuration)
            .lookup("record_pid_and_sleep", options: FunctionOptions(timeout: .seconds(1)))
        let error = await aloftError { _ = try await sleeper.remote(path) }
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("record_pid_and_sleep") == true)
        // The container that ran the attempt (the body sleeps a minute) is gone well before the body would end.
        let pid = try #require(recordedPIDs(in: path).first)
        #expect(try await eventually(timeout: .seconds(20)) { !isAlive(pid) })
    }

    @Test("timeouts use retries: each attempt runs, in a new container, and each times out")
    func timeoutsAreRetried() async throws {
        let path = temporaryPath("aloft-timeout-pids")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sleeper: Function<String, Int> = App("timeout-retries", configuration: fixtures.configuration)
            .lookup(
                "record_pid_and_sleep",
                options: FunctionOptions(
                    timeout: .seconds(1), retries: Retries(maxRetries: 1, backoffCoefficient: 1, initialDelay: .zero)))
        #expect(await aloftError { _ = try await sleeper.remote(path) }?.code == .timeout)
        let pids = recordedPIDs(in: path)
        #expect(pids.count == 2, "attempts: \(pids)")  // the first and its one retry, no more
        #expect(Set(pids).count == pids.count)  // a timed-out attempt's container does not run the retry
    }

    @Test("a timeout kills its container; the input running beside it there runs again, without a retry, and succeeds")
    func timeoutReRunsSiblings() async throws {
        let first = temporaryPath("aloft-timeout-first")
        let sibling = temporaryPath("aloft-timeout-sibling")
        defer { for path in [first, sibling] { try? FileManager.default.removeItem(atPath: path) } }
        // One container, two inputs at a time, 8 s per attempt, no retries.
        let function: Function<String, Int> = App("timeout-siblings", configuration: fixtures.configuration)
            .lookup(
                "record_and_sleep",
                options: FunctionOptions(timeout: .seconds(8), maxContainers: 1).concurrent(maxInputs: 2))
        let hanging = try await function.spawn("\(first):60")  // times out at 8 s
        #expect(try await eventually { !recordedPIDs(in: first).isEmpty })
        // Started about 3 s into the first, it runs 6 s: still running when the first times out (any start between
        // 2 s and 8 s in is), and short enough to finish within its own 8 s when it runs again.
        try await Task.sleep(for: .seconds(3))
        let besideIt = try await function.spawn("\(sibling):6")
        #expect(await aloftError { _ = try await hanging.get(timeout: .seconds(60)) }?.code == .timeout)
        #expect(try await besideIt.get(timeout: .seconds(60)) == 2)  // its second run answered
        let pids = recordedPIDs(in: sibling)
        #expect(
            pids.count == 2 && pids.first == recordedPIDs(in: first).first,
            "first: \(recordedPIDs(in: first)), sibling: \(pids)")
        #expect(pids.count == 2 && pids[0] != pids[1])  // the second run is in a new container
        #expect(recordedPIDs(in: first).count == 1)  // the timed-out input itself is not retried
    }
}
