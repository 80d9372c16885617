// W8 (queue) and W9 (dict) for Aloft, durable: against an `aloft server` with its SQLite store (WAL, synchronous
// NORMAL: an acknowledged write survives kill -9 of the server), which `bench/run` starts and names in
// ALOFT_BENCH_SERVER (host:port) and ALOFT_BENCH_TOKEN. W8 moves items between 4 producer and 4 consumer containers
// of that server; W9 is one caller's puts and gets over TCP. Without ALOFT_BENCH_SERVER both are skipped.
import Aloft
import Foundation

let benchServer = ProcessInfo.processInfo.environment["ALOFT_BENCH_SERVER"].flatMap {
    $0.isEmpty ? nil : RemoteControlPlane($0, token: ProcessInfo.processInfo.environment["ALOFT_BENCH_TOKEN"])
}

/// One producer's or consumer's share of W8.
struct W8Job: Codable, Sendable {
    var queue: String
    var first: Int
    var count: Int
    var batch: Int
    /// Warm-up: only hold the container this long.
    var holdMilliseconds = 0
}

/// Puts its items, one at a time or `batch` at a time.
let w8Produce = app.function("w8_produce") { (job: W8Job) async throws -> Int in
    if job.holdMilliseconds > 0 { try await Task.sleep(for: .milliseconds(job.holdMilliseconds)) }
    let queue = Queue<Int>.fromName(job.queue)
    for first in stride(from: job.first, to: job.first + job.count, by: job.batch) {
        let items = Array(first..<min(job.first + job.count, first + job.batch))
        if job.batch == 1 { try await queue.put(items[0]) } else { try await queue.putMany(items) }
    }
    return job.count
}

/// Takes `count` items, one at a time or up to `batch` at a time; the latency of each get in µs.
let w8Consume = app.function("w8_consume") { (job: W8Job) async throws -> [Double] in
    if job.holdMilliseconds > 0 { try await Task.sleep(for: .milliseconds(job.holdMilliseconds)) }
    let queue = Queue<Int>.fromName(job.queue)
    var latencies: [Double] = []
    var taken = 0
    while taken < job.count {
        let began = clock.now
        taken += try await queue.getMany(min(job.batch, job.count - taken), timeout: .seconds(60)).count
        latencies.append(microseconds(clock.now - began))
    }
    return latencies
}

/// W8: `count` items through one durable queue from 4 producer to 4 consumer containers; items/s from the first put
/// to the last get, and the p50 of a consumer's get in µs.
func w8(
    server: App, provider: RemoteControlPlane, count: Int, batch: Int
) async throws -> (itemsPerSecond: Double, getP50: Double) {
    let options = FunctionOptions(maxContainers: 4)
    let produce: Function<W8Job, Int> = server.lookup("w8_produce", options: options)
    let consume: Function<W8Job, [Double]> = server.lookup("w8_consume", options: options)
    let name = "w8-" + UUID().uuidString.prefix(8)
    let queue = Queue<Int>.fromName(name, createIfMissing: true, controlPlane: provider)
    _ = try await queue.count()  // creates it
    // Four containers of each, started before the clock starts.
    let hold = W8Job(queue: name, first: 0, count: 0, batch: 1, holdMilliseconds: 1_500)
    async let warmProducers = produce.map(Array(repeating: hold, count: 4)).reduce(0, +)
    async let warmConsumers = consume.map(Array(repeating: hold, count: 4)).reduce(0) { $0 + $1.count }
    _ = try await (warmProducers, warmConsumers)

    let share = count / 4
    let jobs = (0..<4).map { W8Job(queue: name, first: $0 * share, count: share, batch: batch) }
    let start = clock.now
    async let produced = produce.map(jobs).reduce(0, +)
    var latencies: [Double] = []
    for try await part in consume.map(jobs) { latencies += part }
    let producedCount = try await produced
    let seconds = microseconds(clock.now - start) / 1e6
    precondition(producedCount == 4 * share)
    let left = try await queue.count(total: true)
    precondition(left == 0)
    try await queue.delete()
    return (Double(4 * share) / seconds, percentile(latencies.sorted(), 0.5))
}

/// W9: `count` puts, then `count` gets, of 100-byte values from this caller; p50 of each in µs and ops/s over both.
func w9(provider: RemoteControlPlane, count: Int) async throws -> (putP50: Double, getP50: Double, opsPerSecond: Double)
{
    let dict = Dict<String, String>.fromName(
        "w9-" + UUID().uuidString.prefix(8), createIfMissing: true, controlPlane: provider)
    let value = String(repeating: "v", count: 100)
    var puts: [Double] = []
    var gets: [Double] = []
    let start = clock.now
    for index in 0..<count {
        let began = clock.now
        try await dict.put("key-\(index)", value)
        puts.append(microseconds(clock.now - began))
    }
    for index in 0..<count {
        let began = clock.now
        let got = try await dict.get("key-\(index)")
        gets.append(microseconds(clock.now - began))
        precondition(got == value)
    }
    let seconds = microseconds(clock.now - start) / 1e6
    try await dict.delete()
    return (percentile(puts.sorted(), 0.5), percentile(gets.sorted(), 0.5), Double(2 * count) / seconds)
}

func runStorageWorkloads() async throws {
    guard wants("w8") || wants("w9") else { return }
    guard let benchServer else {
        FileHandle.standardError.write(
            Data("W8 and W9 need an aloft server: ALOFT_BENCH_SERVER=host:port (bench/run starts one)\n".utf8))
        return
    }
    let server = App("bench-durable", controlPlane: benchServer)
    if wants("w8") {
        // ALOFT_BENCH_W8_BATCH=1 or 100: that batch size only (to profile one).
        let batches = ProcessInfo.processInfo.environment["ALOFT_BENCH_W8_BATCH"].flatMap(Int.init).map { [$0] }
        for batch in batches ?? [1, 100] {
            let n = quick ? 10_000 : 100_000
            let result = try await w8(server: server, provider: benchServer, count: n, batch: batch)
            report(
                "W8-queue",
                [
                    ("store", "sqlite"), ("n", "\(n)"), ("batch", "\(batch)"),
                    ("items_per_s", String(format: "%.0f", result.itemsPerSecond)),
                    ("get_p50_us", String(format: "%.1f", result.getP50)),
                ])
        }
    }
    if wants("w9") {
        let n = quick ? 10_000 : 100_000
        let result = try await w9(provider: benchServer, count: n)
        report(
            "W9-dict",
            [
                ("store", "sqlite"), ("n", "\(n)"), ("put_p50_us", String(format: "%.1f", result.putP50)),
                ("get_p50_us", String(format: "%.1f", result.getP50)),
                ("ops_per_s", String(format: "%.0f", result.opsPerSecond)),
            ])
    }
}
