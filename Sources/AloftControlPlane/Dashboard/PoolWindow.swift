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

    private var outcomes = CircularBuffer<Outcome>(initialCapacity: 16)

    mutating func record(at now: NIODeadline, duration: TimeAmount?, failed: Bool) {
        if outcomes.count == Self.capacity { outcomes.removeFirst() }
        outcomes.append(Outcome(at: now, duration: duration, failed: failed))
    }

    /// Inputs and failures per minute, and the 50th and 99th percentile of durations in milliseconds, over the
    /// last five minutes (or since the oldest kept, if that is later).
    func summary(now: NIODeadline) -> (perMinute: Double, failuresPerMinute: Double, p50: Double?, p99: Double?) {
        let recent = outcomes.filter { now - $0.at <= Self.span }
        guard let oldest = recent.first else { return (0, 0, nil, nil) }
        let minutes = max(Double((now - oldest.at).nanoseconds) / 60e9, 1.0 / 60)
        let spanMinutes = outcomes.count == Self.capacity ? minutes : max(minutes, 1)
        let durations = recent.compactMap(\.duration).map { Double($0.nanoseconds) / 1e6 }.sorted()
        func percentile(_ p: Double) -> Double? {
            durations.isEmpty ? nil : durations[min(durations.count - 1, Int(Double(durations.count) * p))]
        }
        return (
            Double(recent.count) / spanMinutes, Double(recent.filter(\.failed).count) / spanMinutes, percentile(0.5),
            percentile(0.99)
        )
    }
}
