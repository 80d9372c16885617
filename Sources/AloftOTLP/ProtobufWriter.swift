import AloftTracing
import Tracing

/// The protobuf wire format, for the few message shapes of an OTLP batch (`OTLPBatch.protobuf()`).
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7f) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private mutating func tag(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    mutating func uint(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, 0)
        varint(value)
    }

    mutating func fixed64(_ field: Int, _ value: UInt64) {
        tag(field, 1)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func double(_ field: Int, _ value: Double) { fixed64(field, value.bitPattern) }

    mutating func string(_ field: Int, _ value: String) {
        guard !value.isEmpty else { return }
        text(field, value)
    }

    /// A string field, written even when empty (a oneof's value).
    mutating func text(_ field: Int, _ value: String) {
        tag(field, 2)
        varint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// A nested message, written in place: its length is patched in afterwards (one byte reserved; a longer
    /// length moves the body up by the extra bytes), so no message is built apart and copied.
    mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        tag(field, 2)
        let lengthAt = bytes.count
        bytes.append(0)
        body(&self)
        var length = UInt64(bytes.count - lengthAt - 1)
        guard length >= 0x80 else {
            bytes[lengthAt] = UInt8(length)
            return
        }
        var prefix: [UInt8] = []
        while length >= 0x80 {
            prefix.append(UInt8(length & 0x7f) | 0x80)
            length >>= 7
        }
        prefix.append(UInt8(length))
        bytes[lengthAt] = prefix[0]
        bytes.insert(contentsOf: prefix[1...], at: lengthAt + 1)
    }

    /// Big-endian id bytes: a trace id's 16 (`high` then `low`), a span id's 8.
    mutating func id(_ field: Int, _ high: UInt64, _ low: UInt64? = nil) {
        tag(field, 2)
        varint(low == nil ? 8 : 16)
        withUnsafeBytes(of: high.bigEndian) { bytes.append(contentsOf: $0) }
        if let low { withUnsafeBytes(of: low.bigEndian) { bytes.append(contentsOf: $0) } }
    }

    /// A `KeyValue`: key 1, value 2 (`AnyValue`).
    mutating func keyValue(_ key: String, _ value: SpanAttribute) {
        string(1, key)
        message(2) { $0.anyValue(value) }
    }

    /// An `AnyValue`: string 1, bool 2, int 3, double 4, array 5 (`ArrayValue.values` 1).
    mutating func anyValue(_ value: SpanAttribute) {
        switch OTLPValue(value) {
        case .string(let value): text(1, value)
        case .bool(let flag):
            tag(2, 0)
            varint(flag ? 1 : 0)
        case .int(let number):
            tag(3, 0)
            varint(UInt64(bitPattern: number))
        case .double(let number): double(4, number)
        case .array(let values):
            message(5) { array in
                for value in values { array.message(1) { $0.anyValue(value) } }
            }
        }
    }

    /// A `Span`.
    mutating func span(_ span: FinishedSpan) {
        id(1, span.identity.traceHigh, span.identity.traceLow)
        id(2, span.identity.spanID)
        if span.parentSpanID != 0 { id(4, span.parentSpanID) }
        string(5, span.name)
        uint(6, UInt64(span.kind.otlp))
        fixed64(7, span.start)
        fixed64(8, span.end)
        for (key, value) in span.attributes { message(9) { $0.keyValue(key, value) } }
        for event in span.events {
            message(11) { writer in  // Span.Event: time 1, name 2, attributes 3
                writer.fixed64(1, event.nanosecondsSinceEpoch)
                writer.string(2, event.name)
                for (key, value) in event.attributes.pairs { writer.message(3) { $0.keyValue(key, value) } }
            }
        }
        for link in span.links {
            message(13) { writer in  // Span.Link: trace id 1, span id 2
                writer.id(1, link.traceHigh, link.traceLow)
                writer.id(2, link.spanID)
            }
        }
        if let status = span.status {
            message(15) { writer in  // Status: message 2, code 3
                writer.string(2, status.message ?? "")
                writer.uint(3, UInt64(status.otlp))
            }
        }
    }
}
