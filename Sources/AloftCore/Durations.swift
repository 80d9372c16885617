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

extension Duration {
    /// `90`, `90s`, `10m`, `12h` or `7d` (a number, fractions allowed, and an optional unit; seconds without one):
    /// how people write an age on a command line. `nil` for anything else, or a negative or endless value.
    package init?(humanReadable text: String) {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        let trimmed = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        let unit = trimmed.last.flatMap { units[$0] }
        guard let number = Double(unit == nil ? trimmed : String(trimmed.dropLast())), number >= 0,
            (number * (unit ?? 1)).isFinite, number * (unit ?? 1) < 1e12
        else { return nil }
        self = .milliseconds(Int64((number * (unit ?? 1) * 1000).rounded()))
    }
}
