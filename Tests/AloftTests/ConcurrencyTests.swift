import Aloft
import Foundation
import Testing

/// Concurrent inputs on one container, on the real path (container processes).
@Suite("Concurrent inputs", .serialized, .timeLimit(.minutes(3)))
struct ConcurrencyTests {
    /// Runs `count` inputs of `seconds` on one warm container; returns where they ran and how long it took.
    func measure(
        _ name: String, maxInputs: Int, count: Int, seconds: Double
    ) async throws -> (places: [Where], elapsed: Duration) {
        let app = App("concurrency-\(name)-\(maxInputs)", configuration: fixtures.configuration)
        let function: Function<Double, Where> = app.lookup(
            name, options: FunctionOptions(maxContainers: 1).concurrent(maxInputs: maxInputs))
        _ = try await function.remote(0)  // the container is warm before timing starts
        let start = ContinuousClock.now
        var places: [Where] = []
        for try await place in function.map(Array(repeating: seconds, count: count)) { places.append(place) }
        return (places, ContinuousClock.now - start)
    }

    /// Runs `count` inputs of `name` (a barrier: each waits until all `count` have started) on one warm container
    /// with `maxInputs`; where they ran. Inputs that could not all run at once would wait past the test's limit.
    func barrier(_ name: String, maxInputs: Int, count: Int) async throws -> [Where] {
        let app = App("concurrency-\(name)-\(maxInputs)", configuration: fixtures.configuration)
        let function: Function<String, Where> = app.lookup(
            name, options: FunctionOptions(maxContainers: 1).concurrent(maxInputs: maxInputs))
        let key = UUID().uuidString
        var places: [Where] = []
        for try await place in function.map(Array(repeating: "\(key):\(count)", count: count)) {
            places.append(place)
        }
        return places
    }

    @Test("10 blocking inputs on one container with maxInputs 10 run at once, on 10 threads")
    func blockingBodiesRunOnThreads() async throws {
        let places = try await barrier("arrive_and_wait", maxInputs: 10, count: 10)
        #expect(places.count == 10)
        #expect(Set(places.map(\.process)).count == 1)
        #expect(Set(places.map(\.thread)).count == 10)
    }

    @Test("100 async inputs on one container with maxInputs 100 run at once, all on one thread")
    func asyncBodiesShareOneThread() async throws {
        let places = try await barrier("async_arrive_and_wait", maxInputs: 100, count: 100)
        #expect(places.count == 100)
        #expect(Set(places.map(\.process)).count == 1)
        #expect(Set(places.map(\.thread)).count == 1)
    }

    @Test("without concurrency a container runs one input at a time")
    func serialByDefault() async throws {
        let (places, elapsed) = try await measure("sleep_and_report", maxInputs: 1, count: 3, seconds: 0.5)
        #expect(Set(places.map(\.process)).count == 1)
        #expect(elapsed >= .milliseconds(1500), "took \(elapsed); three 0.5 s inputs one after another")
    }

    @Test("concurrency-example prints one line per case")
    func concurrencyExample() async throws {
        let run = try await runProduct("concurrency-example")
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(
            lines.contains { $0.hasPrefix("sync: 10 inputs, 10 threads, ") && $0.hasSuffix(" s") },
            "stdout: \(run.stdout)")
        #expect(
            lines.contains { $0.hasPrefix("async: 100 inputs, 1 threads, ") && $0.hasSuffix(" s") },
            "stdout: \(run.stdout)")
    }
}
