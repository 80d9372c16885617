// Concurrent inputs on one container (the last paragraph of Modal's async page): `swift run concurrency-example`.
// A blocking body runs each concurrent input on a thread of its own; an async body runs them all as tasks on the
// container's one executor thread.
import Aloft
import Foundation

struct Where: Codable, Hashable, Sendable {
    var process: Int32
    var thread: UInt64
}

func here() -> Where {
    Where(process: ProcessInfo.processInfo.processIdentifier, thread: UInt64(pthread_self()))
}

let app = App("concurrency")

let blockingSleep = app.function("blocking_sleep", options: FunctionOptions(maxContainers: 1).concurrent(maxInputs: 10))
{
    (seconds: Double) -> Where in
    Thread.sleep(forTimeInterval: seconds)
    return here()
}

let asyncSleep = app.function("async_sleep", options: FunctionOptions(maxContainers: 1).concurrent(maxInputs: 100)) {
    (seconds: Double) async throws -> Where in
    try await Task.sleep(for: .seconds(seconds))
    return here()
}

/// Runs `count` one-second inputs on one warm container and prints how many threads ran them, and how long it took.
func measure(_ label: String, _ function: Function<Double, Where>, count: Int) async throws {
    _ = try await function.remote(0)  // start the container first: the line measures the inputs, not the start-up
    let start = ContinuousClock.now
    var places: [Where] = []
    for try await place in function.map(Array(repeating: 1.0, count: count)) { places.append(place) }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let processes = Set(places.map(\.process)).count
    precondition(processes == 1, "expected one container, saw \(processes)")
    print("\(label): \(count) inputs, \(Set(places.map(\.thread)).count) threads, \(String(format: "%.2f", seconds)) s")
}

app.localEntrypoint { () async throws in
    try await measure("sync", blockingSleep, count: 10)
    try await measure("async", asyncSleep, count: 100)
}

app.main()
