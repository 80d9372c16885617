import NIOCore

/// The last inputs a pool answered (at most `capacity`), for the dashboard's rates and percentiles over the last
/// five minutes. Used on the loop.
struct PoolWindow {
    static let capacity = 4_096
    static let span = TimeAmount.minutes(5)

    private struct Outcome {
        let at: NIODeadline
        /// From the start of its last attempt; nil for an input answered before it ran (a cancellation).
        let duration: TimeAmount?
        let failed: Bool
    }

    /// A ring over a plain array (oldest at `head` once full): NIO's `CircularBuffer` costs ~30× as much to walk in
    /// a debug build, where a page with a full window took 250 ms.
    private var outcomes: [Outcome] = []
    private var head = 0

    mutating func record(at now: NIODeadline, duration: TimeAmount?, failed: Bool) {
        let outcome = Outcome(at: now, duration: duration, failed: failed)
        if outcomes.count < Self.capacity {
            outcomes.append(outcome)
        } else {
            outcomes[head] = outcome
            head = (head + 1) % Self.capacity
        }
    }

    /// Inputs and failures per minute, and the 50th and 99th percentile of durations in milliseconds, over the
    /// last five minutes (or since the oldest kept, if that is later).
    func summary(now: NIODeadline) -> (perMinute: Double, failuresPerMinute: Double, p50: Double?, p99: Double?) {
        var oldest: NIODeadline?
        var count = 0
        var failures = 0
        var durations: [Double] = []
        durations.reserveCapacity(outcomes.count)
        for outcome in outcomes where now - outcome.at <= Self.span {
            oldest = min(oldest ?? outcome.at, outcome.at)
            count += 1
            if outcome.failed { failures += 1 }
            if let duration = outcome.duration { durations.append(Double(duration.nanoseconds) / 1e6) }
        }
        guard let oldest else { return (0, 0, nil, nil) }
        let minutes = max(Double((now - oldest).nanoseconds) / 60e9, 1.0 / 60)
        let spanMinutes = outcomes.count == Self.capacity ? minutes : max(minutes, 1)
        durations.sort()
        func percentile(_ p: Double) -> Double? {
            durations.isEmpty ? nil : durations[min(durations.count - 1, Int(Double(durations.count) * p))]
        }
        return (Double(count) / spanMinutes, Double(failures) / spanMinutes, percentile(0.5), percentile(0.99))
    }
}
