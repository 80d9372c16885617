// Aloft's side of the workloads in ../shared/bench/WORKLOADS.md, on the embedded control plane.
// Run in release mode: `swift run -c release aloft-bench [w1|w2|w3|w4|w5|w6|w7|w8|w9|hop|rtt ...] [quick]`
// (no workload named: W1, W2, W3, W4, W6, W7, W8, W9; W8 and W9 are in Storage.swift). W5 measures a cold start, so `bench/run` runs it in a process of its own.
import Aloft
import AloftOTLP
import AloftControlPlane
import Foundation
import Instrumentation
import Metrics
import Prometheus

// ALOFT_BENCH_TRANSPORT=tcp: containers and the caller reach the embedded control plane over loopback TCP
// instead of its Unix-domain socket (the default), to compare the two in one run.
let transport = ProcessInfo.processInfo.environment["ALOFT_BENCH_TRANSPORT"] ?? "unix"
// W7 sends arguments up to 16 MiB (21 MiB as JSON): over the 2 MiB default inline limit, so the bench raises it.
let benchPayloadLimit = 24 * 1024 * 1024
// ALOFT_BENCH_ISOLATION=bwrap: the embedded control plane boxes its containers as `aloft server` does as root
// (SandboxContainerRuntime), to measure what a box costs (W5, W1) in the same run as plain processes.
let isolation = ProcessInfo.processInfo.environment["ALOFT_BENCH_ISOLATION"] ?? "none"
let controlPlane = EmbeddedControlPlane(
    configuration: ControlPlaneConfiguration(
        unixSocketPath: transport == "tcp" ? "" : nil, maxPayloadBytes: benchPayloadLimit,
        containerRuntime: isolation == "bwrap" && ProcessInfo.processInfo.environment["ALOFT_CONTAINER_ID"] == nil
            ? try SandboxContainerRuntime.make().get() : ProcessContainerRuntime()))
let app = App("bench", controlPlane: controlPlane)

let square = app.function("square") { (x: Int) -> Int in x * x }

// W4: 2 containers x 50 concurrent inputs, a blocking body (threads) and an async body (one executor thread).
let w4Options = FunctionOptions(maxContainers: 2).concurrent(maxInputs: 50)
let sleepy = app.function("sleepy", options: w4Options) { (seconds: Double) -> Int in
    Thread.sleep(forTimeInterval: seconds)
    return 0
}
let sleepyAsync = app.function("sleepy_async", options: w4Options) { (seconds: Double) async throws -> Int in
    try await Task.sleep(for: .seconds(seconds))
    return 0
}

// W5: each of these is its own pool, so its first call starts a container from zero.
let coldSquares = (0..<5).map { index in app.function("cold_square_\(index)") { (x: Int) -> Int in x * x } }

// W7: the argument's size comes back.
let payloadSize = app.function("payload_size") { (payload: Data) -> Int in payload.count }

// W10 (bench/web): a trivial JSON endpoint, deployed to an `aloft server` and driven over HTTP by wrk.
struct W10Query: Codable, Sendable { var x: Int }
struct W10Square: Codable, Sendable { var square: Int }
let w10Square = app.webEndpoint(
    "w10_square", method: .get, options: FunctionOptions(maxContainers: 2).concurrent(maxInputs: 64)
) { (query: W10Query) async throws -> W10Square in W10Square(square: query.x * query.x) }

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func microseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
}

func report(_ name: String, _ fields: [(String, String)]) {
    let context = ["transport=\(transport)", "isolation=\(isolation)"]
    print(([name] + context + fields.map { "\($0.0)=\($0.1)" }).joined(separator: " "))
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

/// The blocking fan-out: `map` (one request for all 100 inputs), or 100 `spawn`s (each waits for its call's id) and
/// `gather`.
func w2Blocking(spawnEach: Bool) throws -> [Double] {
    var samples: [Double] = []
    for _ in 0..<22 {
        let start = clock.now
        if spawnEach {
            let calls = try (0..<100).map { try square.spawn($0) }
            _ = try FunctionCall.gather(calls)
        } else {
            let results = try square.map(0..<100).blocking.map { try $0.get() }
            precondition(results.count == 100)
        }
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

/// W4: 100 `sleepy(1.0)` started at once (after a warm-up that starts both containers); wall in seconds.
func w4(_ function: Function<Double, Int>) async throws -> Double {
    for try await _ in function.map(Array(repeating: 0.05, count: 100)) {}
    let start = clock.now
    var count = 0
    for try await _ in function.map(Array(repeating: 1.0, count: 100)) { count += 1 }
    precondition(count == 100)
    return microseconds(clock.now - start) / 1e6
}

/// W5: from the first use of the runtime (the embedded control plane starts lazily) to the first result, then from
/// zero containers to the first result of a new function, and the resident memory of the idle containers.
func w5(processStart: ContinuousClock.Instant) async throws {
    _ = try await square.remote(3)
    let runtimeStart = microseconds(clock.now - processStart) / 1000
    var scaleFromZero: [Double] = []
    for function in coldSquares {
        let start = clock.now
        _ = try await function.remote(3)
        scaleFromZero.append(microseconds(clock.now - start) / 1000)
    }
    try await Task.sleep(for: .seconds(1))  // let them settle into waiting for input
    let memory = childMemoryMiB()
    func mean(_ values: [Double]) -> String {
        String(format: "%.1f", values.reduce(0, +) / Double(max(1, values.count)))
    }
    report(
        "W5-cold-start",
        [
            ("runtime_start_ms", String(format: "%.1f", runtimeStart)),
            ("scale_from_zero_ms", String(format: "%.1f", percentile(scaleFromZero.sorted(), 0.5))),
            ("idle_container_rss_mib", mean(memory.map(\.resident))),
            ("idle_container_private_mib", mean(memory.map(\.unshared))),
            ("containers", "\(memory.count)"),
        ])
}

/// Memory (MiB) of each container the embedded control plane started, as the sum over the child process and every
/// process under it (a boxed container is bubblewrap, its init and the container): resident, and the part of it no
/// other process shares (most of the rest is the Swift runtime's and Foundation's shared libraries).
func childMemoryMiB() -> [(resident: Double, unshared: Double)] {
    let me = getpid()
    var children: [Int32: [Int32]] = [:]
    var memory: [Int32: (resident: Double, unshared: Double)] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), pid != me,
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let parent = kibField("PPid:", in: status)
        else { continue }
        children[Int32(parent), default: []].append(pid)
        guard let resident = kibField("VmRSS:", in: status),
            let rollup = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8),
            let privateClean = kibField("Private_Clean:", in: rollup),
            let privateDirty = kibField("Private_Dirty:", in: rollup)
        else { continue }
        memory[pid] = (resident / 1024, (privateClean + privateDirty) / 1024)
    }
    return (children[me] ?? []).map { child in
        var total = (resident: 0.0, unshared: 0.0)
        var frontier = [child]
        while let pid = frontier.popLast() {
            if let own = memory[pid] { total = (total.resident + own.resident, total.unshared + own.unshared) }
            frontier += children[pid] ?? []
        }
        return total
    }
}

/// The number at the start of a `Name:   123 kB` line of a /proc file.
func kibField(_ name: String, in text: String) -> Double? {
    text.split(separator: "\n").first { $0.hasPrefix(name) }
        .flatMap { Double($0.dropFirst(name.count).split(whereSeparator: \.isWhitespace).first ?? "") }
}

/// W7: W1 with an argument of `bytes` bytes; p50 per call in µs.
func w7(bytes: Int, calls: Int) async throws -> Double {
    let payload = Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0) })
    for _ in 0..<3 {
        let echoed = try await payloadSize.remote(payload)
        precondition(echoed == bytes)
    }
    var samples: [Double] = []
    for _ in 0..<calls {
        let start = clock.now
        _ = try await payloadSize.remote(payload)
        samples.append(microseconds(clock.now - start))
    }
    return percentile(samples.sorted(), 0.5)
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

// `aloft-bench -- w1 quick`: the workloads follow `--`, so that `app.main()` runs both entrypoints.
let selected = Set(CommandLine.arguments.dropFirst()).subtracting(["--"])
let quick = selected.contains("quick")
let defaultWorkloads: Set = ["w1", "w2", "w3", "w4", "w6", "w7", "w8", "w9"]
func wants(_ name: String) -> Bool {
    selected.subtracting(["quick"]).isEmpty ? defaultWorkloads.contains(name) : selected.contains(name)
}
let processStart = clock.now
// `calls` (bench/per-call.sh): ALOFT_BENCH_CALLS sequential calls in ALOFT_BENCH_FORM (async or blocking) after 100
// warm-up calls, nothing timed: the script counts system calls and thread wake-ups over two runs of different lengths
// and divides their difference by the difference of the counts.
let callCount = Int(ProcessInfo.processInfo.environment["ALOFT_BENCH_CALLS"] ?? "") ?? 1000
let callsForm = ProcessInfo.processInfo.environment["ALOFT_BENCH_FORM"] ?? "async"
// `ALOFT_BENCH_METRICS=prometheus`: the embedded control plane records its metrics into a Prometheus registry, as
// `aloft server`'s does (bench/observability-ab.sh measures what that costs).
if ProcessInfo.processInfo.environment["ALOFT_BENCH_METRICS"] == "prometheus" {
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))
}
// `ALOFT_BENCH_TRACING=otlp`: a tracer is bootstrapped (AloftTracing, exporting over OTLP/HTTP to
// OTEL_EXPORTER_OTLP_ENDPOINT, default localhost:4318), so that the embedded control plane records its spans, as
// with `aloft server --otlp-endpoint`.
// Not in its containers (the same executable): a container needs no tracer, the control plane records its spans.
if ProcessInfo.processInfo.environment["ALOFT_BENCH_TRACING"] == "otlp",
    ProcessInfo.processInfo.environment["ALOFT_CONTAINER_ID"] == nil
{
    var environment = ProcessInfo.processInfo.environment
    if environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == nil {
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://localhost:4318"
    }
    if let configuration = try OTLPConfiguration.resolve(
        endpoint: nil, environment: environment, serviceName: "aloft-bench")
    {
        let exporter = OTLPExporter(configuration: configuration)
        InstrumentationSystem.bootstrap(exporter.tracer)
        Task { try await exporter.run() }
    }
}

app.localEntrypoint("bench") { () async throws in
    if wants("w5") {
        try await w5(processStart: processStart)  // first: it measures the runtime's start
    }
    if wants("spans") { spanCost() }
    if wants("w1traced") { try await w1Traced() }
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
    if wants("calls") && callsForm == "async" {
        for i in 0..<100 { _ = try await square.remote(i) }
        for i in 0..<callCount { _ = try await square.remote(i) }
        report("calls", [("n", "\(callCount)"), ("form", callsForm)])
    }
    if wants("rtt") {
        let samples = try await controlPlaneRoundTrip()
        report("caller-control-plane-rtt", [("p50_us", String(format: "%.1f", percentile(samples, 0.5)))])
    }
    if wants("w1") || wants("w6") {
        let samples = try await w1Async()
        report(
            "W1-async",
            [
                ("p50_us", String(format: "%.1f", percentile(samples, 0.5))),
                ("p99_us", String(format: "%.1f", percentile(samples, 0.99))),
            ])
    }
    if wants("w2") || wants("w6") {
        let samples = try await w2Async()
        report(
            "W2-async",
            [
                ("median_ms", String(format: "%.2f", percentile(samples, 0.5))),
                ("p90_ms", String(format: "%.2f", percentile(samples, 0.9))),
            ])
    }
    // `w3m`: W3 at N = 1,000,000 (issue 16's goal: the rate, and the caller's memory), in bench/run's full run.
    if wants("w3") || wants("w3m") {
        let sizes = wants("w3") ? (quick ? [10_000] : [10_000, 100_000]) : []
        for n in sizes + (wants("w3m") ? [1_000_000] : []) {
            let rate = try await w3(n)
            report(
                "W3-map",
                [
                    ("n", "\(n)"), ("calls_per_s", String(format: "%.0f", rate)),
                    ("caller_peak_rss_mib", "\(peakResidentMiB())"),
                ])
        }
    }
    if wants("w4") {
        report("W4-sleepy", [("body", "blocking"), ("wall_s", String(format: "%.3f", try await w4(sleepy)))])
        report("W4-sleepy", [("body", "async"), ("wall_s", String(format: "%.3f", try await w4(sleepyAsync)))])
    }
    try await runStorageWorkloads()
    if wants("w7") {
        let sizes = [
            (1024, "1KiB", 1000), (100 * 1024, "100KiB", 300), (2 * 1024 * 1024, "2MiB", 30),
            (16 * 1024 * 1024, "16MiB", 8),
        ]
        for (bytes, label, calls) in sizes {
            let p50 = try await w7(bytes: bytes, calls: quick ? max(3, calls / 5) : calls)
            report(
                "W7-payload",
                [
                    ("size", label), ("p50_us", String(format: "%.1f", p50)),
                    ("mb_per_s", String(format: "%.1f", Double(bytes) / p50)),
                ])
        }
    }
}

app.localEntrypoint("bench-blocking") {
    if wants("calls") && callsForm == "blocking" {
        for i in 0..<100 { _ = try square.remote(i) }
        for i in 0..<callCount { _ = try square.remote(i) }
        report("calls", [("n", "\(callCount)"), ("form", callsForm)])
    }
    guard wants("w6") else { return }
    let w1 = try w1Blocking()
    report(
        "W1-blocking",
        [
            ("p50_us", String(format: "%.1f", percentile(w1, 0.5))),
            ("p99_us", String(format: "%.1f", percentile(w1, 0.99))),
        ])
    for (form, spawnEach) in [("map", false), ("spawn-gather", true)] {
        let w2 = try w2Blocking(spawnEach: spawnEach)
        report(
            "W2-blocking",
            [
                ("form", form), ("median_ms", String(format: "%.2f", percentile(w2, 0.5))),
                ("p90_ms", String(format: "%.2f", percentile(w2, 0.9))),
            ])
    }
}

// Globals of other files are initialized on first use: touch W8's functions so that containers know them.
_ = (w8Produce, w8Consume)
app.main()
