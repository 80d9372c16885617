// The one place a `Duration` is converted: the wire carries whole milliseconds, Foundation and Dispatch take seconds
// and nanoseconds (NIO converts `Duration` to `TimeAmount` itself).

extension Duration {
    /// Whole milliseconds, as the wire carries durations (sub-millisecond parts are dropped).
    package var wireMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// A duration read from the wire's milliseconds.
    package init(wireMilliseconds milliseconds: some BinaryInteger) {
        self = .milliseconds(Int64(milliseconds))
    }

    /// Whole nanoseconds (Dispatch's deadlines).
    package var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Seconds with their fraction (Foundation's `TimeInterval`).
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
