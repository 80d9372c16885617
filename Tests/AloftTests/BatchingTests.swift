import Aloft
import Foundation
import Testing

/// Dynamic batching, on the real path (container processes).
@Suite("Batching", .serialized, .timeLimit(.minutes(3)))
struct BatchingTests {
    func handle<Output>(_ name: String, app: String, maxBatchSize: Int = 4, wait: Duration) -> Function<Int, Output> {
        var options = FunctionOptions(maxContainers: 1)
        options.batching = .init(maxBatchSize: maxBatchSize, wait: wait)
        return App(app, configuration: fixtures.configuration).lookup(name, options: options)
    }

    @Test("callers send single inputs; the body gets full batches")
    func fullBatches() async throws {
        let function: Function<Int, BatchReport> = handle("batched_double", app: "batch-full", wait: .seconds(5))
        var reports: [BatchReport] = []
        for try await report in function.map(0..<8) { reports.append(report) }
        #expect(reports == (0..<8).map { BatchReport(batchSize: 4, value: $0 * 2) })
    }

    @Test("a partial batch runs when its first input has waited")
    func partialBatchAfterWait() async throws {
        let function: Function<Int, BatchReport> = handle(
            "batched_double", app: "batch-partial", wait: .milliseconds(200))
        _ = try await function.remote(0)  // a warm container
        let start = ContinuousClock.now
        #expect(try await function.remote(21) == BatchReport(batchSize: 1, value: 42))
        #expect(ContinuousClock.now - start >= .milliseconds(200))
    }

    @Test("a result of the wrong length fails the whole batch with a clear error")
    func wrongLength() async throws {
        let function: Function<Int, Int> = handle("batched_wrong_length", app: "batch-length", wait: .seconds(5))
        var results: [Result<Int, any Error>] = []
        for try await result in function.map(0..<4, returnExceptions: true) { results.append(result) }
        #expect(results.count == 4)
        for result in results {
            guard case .failure(let error as AloftError) = result else {
                Issue.record("expected a failure, got \(result)")
                continue
            }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("returned 3 results for a batch of 4 inputs"))
        }
    }

    @Test("a throw fails every input of its batch")
    func throwFailsBatch() async throws {
        let function: Function<Int, Int> = handle("batched_throws", app: "batch-throws", wait: .seconds(5))
        var results: [Result<Int, any Error>] = []
        for try await result in function.map([1, 13, 2, 3], returnExceptions: true) { results.append(result) }
        #expect(results.count == 4)
        #expect(
            results.allSatisfy {
                if case .failure(let error as AloftError) = $0 { error.code == .remoteError } else { false }
            })
    }

    @Test("batch limits are validated")
    func validation() {
        for (size, wait) in [(0, Duration.zero), (1001, .zero), (4, .seconds(601))] {
            var options = FunctionOptions()
            options.batching = .init(maxBatchSize: size, wait: wait)
            #expect(throws: AloftError.self) { try options.validate() }
        }
    }
}
