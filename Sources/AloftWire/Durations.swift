// The one place durations meet the wire, which carries whole milliseconds (NIO converts `Duration` to
// `TimeAmount` itself).

extension Duration {
    /// The duration in whole milliseconds, as the wire carries it (sub-millisecond parts are dropped; negative
    /// durations are kept).
    package var wireMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// A duration read from the wire's milliseconds.
    package init(wireMilliseconds milliseconds: some BinaryInteger) {
        self = .milliseconds(Int64(milliseconds))
    }
}
