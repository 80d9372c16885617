import Synchronization

/// The identity of a span as W3C Trace Context carries it (`traceparent`): a 128-bit trace id, a 64-bit span id and
/// whether the trace is sampled. An id of zero is invalid (the spec's rule), so none is ever made.
public struct SpanIdentity: Sendable, Hashable {
    public var traceHigh: UInt64
    public var traceLow: UInt64
    public var spanID: UInt64
    public var sampled: Bool

    public init(traceHigh: UInt64, traceLow: UInt64, spanID: UInt64, sampled: Bool) {
        self.traceHigh = traceHigh
        self.traceLow = traceLow
        self.spanID = spanID
        self.sampled = sampled
    }

    /// `00-<trace id>-<span id>-<flags>`: 55 characters.
    public var traceparent: String {
        String(unsafeUninitializedCapacity: 55) { buffer in
            var at = 0
            func put(_ byte: UInt8) {
                buffer[at] = byte
                at += 1
            }
            put(UInt8(ascii: "0"))
            put(UInt8(ascii: "0"))
            put(UInt8(ascii: "-"))
            TraceHex.write(traceHigh, into: buffer, at: &at)
            TraceHex.write(traceLow, into: buffer, at: &at)
            put(UInt8(ascii: "-"))
            TraceHex.write(spanID, into: buffer, at: &at)
            put(UInt8(ascii: "-"))
            put(UInt8(ascii: "0"))
            put(UInt8(ascii: sampled ? "1" : "0"))
            return at
        }
    }

    /// Parses a version-00 `traceparent` (a later version's first four fields, as the spec asks); nil for anything
    /// malformed or with an all-zero id.
    public init?(traceparent: String) {
        var text = traceparent
        let parsed: SpanIdentity? = text.withUTF8 { bytes in
            let dash = UInt8(ascii: "-")
            guard bytes.count >= 55, bytes[2] == dash, bytes[35] == dash, bytes[52] == dash,
                let version = TraceHex.read(bytes, from: 0, count: 2), version != 0xff,
                // Version 00 is exactly 55 characters; a later one may go on after another dash.
                bytes.count == 55 || (version != 0 && bytes[55] == dash),
                let high = TraceHex.read(bytes, from: 3, count: 16),
                let low = TraceHex.read(bytes, from: 19, count: 16),
                let span = TraceHex.read(bytes, from: 36, count: 16),
                let flags = TraceHex.read(bytes, from: 53, count: 2),
                high | low != 0, span != 0
            else { return nil }
            return SpanIdentity(traceHigh: high, traceLow: low, spanID: span, sampled: flags & 1 == 1)
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// The trace id as 32 lower-case hex digits (OTLP/JSON's form).
    public var traceIDHex: String { TraceHex.string(traceHigh) + TraceHex.string(traceLow) }
}

/// Lower-case hexadecimal of 64-bit ids, written and read in place (AloftCore's `Hex` turns byte sequences into
/// strings; this target depends on nothing of Aloft's).
enum TraceHex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    static func write(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at index: inout Int) {
        for shift in stride(from: 60, through: 0, by: -4) {
            buffer[index] = digits[Int((value >> UInt64(shift)) & 0xf)]
            index += 1
        }
    }

    static func string(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            var at = 0
            write(value, into: buffer, at: &at)
            return at
        }
    }

    /// `count` (≤ 16) lower-case hex digits at `offset` (W3C Trace Context allows no upper case), or nil.
    static func read(_ bytes: UnsafeBufferPointer<UInt8>, from offset: Int, count: Int) -> UInt64? {
        var value: UInt64 = 0
        for byte in bytes[offset..<offset + count] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}

/// Random ids without a system call each: xoshiro256** seeded once from the system's generator. Not for secrets;
/// ids only need to be unique with high probability.
final class IdentifierGenerator: Sendable {
    private let state: Mutex<(UInt64, UInt64, UInt64, UInt64)>

    init() {
        var system = SystemRandomNumberGenerator()
        var seed = (system.next(), system.next(), system.next(), system.next())
        if seed.0 | seed.1 | seed.2 | seed.3 == 0 { seed.0 = 1 }
        state = Mutex(seed)
    }

    /// A non-zero random value.
    func next() -> UInt64 {
        state.withLock { state in
            while true {
                let result = rotate(state.1 &* 5, 7) &* 9
                let t = state.1 << 17
                state.2 ^= state.0
                state.3 ^= state.1
                state.1 ^= state.2
                state.0 ^= state.3
                state.2 ^= t
                state.3 = rotate(state.3, 45)
                if result != 0 { return result }
            }
        }
    }

    private func rotate(_ value: UInt64, _ count: UInt64) -> UInt64 { (value << count) | (value >> (64 - count)) }
}
