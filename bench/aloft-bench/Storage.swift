// W8 (queue) and W9 (dict) for Aloft: one caller, the embedded control plane (in memory: it has no store), so the
// figures compare with Redis without persistence (`peers/redis_bench.py`). Issue 12's goals name 4 producer and
// 4 consumer containers for W8; this first version measures the caller's own puts and gets.
import Aloft
import Foundation

/// W9: `count` puts, then `count` gets, of 100-byte values; p50 of each in µs and ops/s over both.
func w9(count: Int) async throws -> (putP50: Double, getP50: Double, opsPerSecond: Double) {
    let dict = Dict<String, String>.fromName(
        "w9-" + UUID().uuidString.prefix(8), createIfMissing: true, controlPlane: controlPlane)
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

/// W8: `count` items through one queue, put then got one at a time, or in batches of `batch`; items/s over the
/// puts and gets, and the p50 of a get in µs.
func w8(count: Int, batch: Int) async throws -> (itemsPerSecond: Double, getP50: Double) {
    let queue = Queue<Int>.fromName(
        "w8-" + UUID().uuidString.prefix(8), createIfMissing: true, controlPlane: controlPlane)
    var gets: [Double] = []
    let start = clock.now
    var taken = 0
    for first in stride(from: 0, to: count, by: batch) {
        let items = Array(first..<min(count, first + batch))
        if batch == 1 { try await queue.put(items[0]) } else { try await queue.putMany(items) }
        // The partition holds at most 5,000: take as we go, as a consumer keeps up.
        let began = clock.now
        let got = batch == 1 ? [try await queue.get()] : try await queue.getMany(batch)
        gets.append(microseconds(clock.now - began))
        taken += got.count
    }
    precondition(taken == count)
    let seconds = microseconds(clock.now - start) / 1e6
    try await queue.delete()
    return (Double(count) / seconds, percentile(gets.sorted(), 0.5))
}

func runStorageWorkloads() async throws {
    if wants("w8") {
        for batch in [1, 100] {
            let n = quick ? 10_000 : 100_000
            let result = try await w8(count: n, batch: batch)
            report(
                "W8-queue",
                [
                    ("n", "\(n)"), ("batch", "\(batch)"),
                    ("items_per_s", String(format: "%.0f", result.itemsPerSecond)),
                    ("get_p50_us", String(format: "%.1f", result.getP50)),
                ])
        }
    }
    if wants("w9") {
        let n = quick ? 10_000 : 100_000
        let result = try await w9(count: n)
        report(
            "W9-dict",
            [
                ("n", "\(n)"), ("put_p50_us", String(format: "%.1f", result.putP50)),
                ("get_p50_us", String(format: "%.1f", result.getP50)),
                ("ops_per_s", String(format: "%.0f", result.opsPerSecond)),
            ])
    }
}
