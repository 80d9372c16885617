// Quick Aloft workloads from ../shared/bench/WORKLOADS.md (W1, W2, W3, W6), on the embedded control plane.
// Run in release mode: `swift run -c release aloft-bench [w1|w2|w3|w6 ...]` (no argument: all).
import Aloft
import AloftControlPlane
import Foundation

// ALOFT_BENCH_TRANSPORT=tcp: containers and the caller reach the embedded control plane over loopback TCP
// instead of its Unix-domain socket (the default), to compare the two in one run.
let transport = ProcessInfo.processInfo.environment["ALOFT_BENCH_TRANSPORT"] ?? "unix"
let controlPlane = transport == "tcp"
    ? EmbeddedControlPlane(configuration: ControlPlaneConfiguration(unixSocketPath: "")) : EmbeddedControlPlane.shared
let app = App("bench", controlPlane: controlPlane)

let square = app.function("square") { (x: Int) -> Int in x * x }

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func microseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
}

func report(_ name: String, _ fields: [(String, String)]) {
    print(([name, "transport=\(transport)"] + fields.map { "\($0.0)=\($0.1)" }).joined(separator: " "))
}

let clock = ContinuousClock()

/// W1: 1,000 sequential calls after 100 warm-up calls; p50 and p99 in µs.
func w1Async() async throws -> [Double] {
    for i in 0..<100 { _ = try await square.remote(i) }
    var samples: [Double] = []
    for i in 0..<1000 {
        let start = clock.now
        _ = try await square.remote(i)
        samples.append(microseconds(clock.now - start))
    }
    return samples.sorted()
}

func w1Blocking() throws -> [Double] {
    for i in 0..<100 { _ = try square.remote(i) }
    var samples: [Double] = []
    for i in 0..<1000 {
        let start = clock.now
        _ = try square.remote(i)
        samples.append(microseconds(clock.now - start))
    }
    return samples.sorted()
}

/// W2: 100 calls started at once and gathered, 20 batches; median and p90 in ms.
func w2Async() async throws -> [Double] {
    var samples: [Double] = []
    for _ in 0..<22 {
        let start = clock.now
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<100 { group.addTask { try await square.remote(i) } }
            for try await _ in group {}
        }
        samples.append(microseconds(clock.now - start) / 1000)
    }
    return Array(samples.dropFirst(2)).sorted()  // the first batches start containers
}

func w2Blocking() throws -> [Double] {
    var samples: [Double] = []
    for _ in 0..<22 {
        let start = clock.now
        let calls = try (0..<100).map { try square.spawn($0) }
        _ = try FunctionCall.gather(calls)
        samples.append(microseconds(clock.now - start) / 1000)
    }
    return Array(samples.dropFirst(2)).sorted()
}

/// W3: map over N inputs; calls per second.
func w3(_ n: Int) async throws -> Double {
    let start = clock.now
    var count = 0
    for try await _ in square.map(0..<n) { count += 1 }
    precondition(count == n)
    return Double(n) / (microseconds(clock.now - start) / 1e6)
}

/// The caller's round trip to the control plane alone: fetching a finished call's result.
func controlPlaneRoundTrip() async throws -> [Double] {
    let call = try await square.spawn(3)
    _ = try await call.get()
    var samples: [Double] = []
    for _ in 0..<1000 {
        let start = clock.now
        _ = try await call.get()
        samples.append(microseconds(clock.now - start))
    }
    return samples.sorted()
}

/// The caller's peak resident memory so far (containers are other processes).
func peakResidentMiB() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss / 1024
}

let selected = Set(CommandLine.arguments.dropFirst())
func wants(_ name: String) -> Bool { selected.isEmpty || selected.contains(name) }

app.localEntrypoint("bench") { () async throws in
    if wants("hop") {
        let loop = AloftRuntime.shared.eventLoopGroup.any()
        var samples: [Double] = []
        for _ in 0..<1000 {
            let start = clock.now
            try await loop.submit {}.get()
            samples.append(microseconds(clock.now - start))
        }
        samples.sort()
        report("task-loop-task-hop", [("p50_us", String(format: "%.1f", percentile(samples, 0.5)))])
    }
    if wants("rtt") {
        let samples = try await controlPlaneRoundTrip()
        report("caller-control-plane-rtt", [("p50_us", String(format: "%.1f", percentile(samples, 0.5)))])
    }
    if wants("w1") || wants("w6") {
        let samples = try await w1Async()
        report("W1-async", [("p50_us", String(format: "%.1f", percentile(samples, 0.5))), ("p99_us", String(format: "%.1f", percentile(samples, 0.99)))])
    }
    if wants("w2") || wants("w6") {
        let samples = try await w2Async()
        report("W2-async", [("median_ms", String(format: "%.2f", percentile(samples, 0.5))), ("p90_ms", String(format: "%.2f", percentile(samples, 0.9)))])
    }
    if wants("w3") {
        for n in selected.contains("quick") ? [10_000] : [10_000, 100_000] {
            let rate = try await w3(n)
            report("W3-map", [("n", "\(n)"), ("calls_per_s", String(format: "%.0f", rate)), ("caller_peak_rss_mib", "\(peakResidentMiB())")])
        }
    }
}

app.localEntrypoint("bench-blocking") {
    guard wants("w6") else { return }
    let w1 = try w1Blocking()
    report("W1-blocking", [("p50_us", String(format: "%.1f", percentile(w1, 0.5))), ("p99_us", String(format: "%.1f", percentile(w1, 0.99)))])
    let w2 = try w2Blocking()
    report("W2-blocking", [("median_ms", String(format: "%.2f", percentile(w2, 0.5))), ("p90_ms", String(format: "%.2f", percentile(w2, 0.9)))])
}

app.main()
