package import AloftTracing
import Tracing

/// A batch of spans as an OTLP `ExportTraceServiceRequest` (opentelemetry-proto's trace v1): one resource (the
/// service), one instrumentation scope (`aloft`), in OTLP/HTTP's binary protobuf or its JSON form (ids in hex,
/// 64-bit integers as strings, enums as numbers).
package struct OTLPBatch {
    package var spans: [FinishedSpan]
    /// The resource's attributes (`service.name` first).
    package var resource: [(String, String)]

    package init(spans: [FinishedSpan], resource: [(String, String)]) {
        self.spans = spans
        self.resource = resource
    }

    static let scope = "aloft"

    // MARK: Binary protobuf

    package func protobuf() -> [UInt8] {
        var request = ProtobufWriter()
        request.message(1) { resourceSpans in  // ExportTraceServiceRequest.resource_spans
            resourceSpans.message(1) { resource in  // ResourceSpans.resource
                for (key, value) in self.resource {
                    resource.message(1) { $0.keyValue(key, .string(value)) }  // Resource.attributes
                }
            }
            resourceSpans.message(2) { scopeSpans in  // ResourceSpans.scope_spans
                scopeSpans.message(1) { $0.string(1, Self.scope) }  // ScopeSpans.scope: name
                for span in spans { scopeSpans.message(2) { $0.span(span) } }  // ScopeSpans.spans
            }
        }
        return request.bytes
    }

    // MARK: JSON

    package func json() -> [UInt8] {
        var out = JSONWriter()
        out.raw(#"{"resourceSpans":[{"resource":{"attributes":["#)
        for (index, (key, value)) in resource.enumerated() {
            if index > 0 { out.raw(",") }
            out.keyValue(key, .string(value))
        }
        out.raw(#"]},"scopeSpans":[{"scope":{"name":"#)
        out.string(Self.scope)
        out.raw(#"},"spans":["#)
        for (index, span) in spans.enumerated() {
            if index > 0 { out.raw(",") }
            out.span(span)
        }
        out.raw("]}]}]}")
        return out.bytes
    }
}

extension SpanKind {
    /// OTLP's `Span.SpanKind`.
    var otlp: Int {
        switch self {
        case .internal: 1
        case .server: 2
        case .client: 3
        case .producer: 4
        case .consumer: 5
        }
    }
}

extension SpanStatus {
    /// OTLP's `Status.StatusCode`: 1 ok, 2 error.
    var otlp: Int { code == .ok ? 1 : 2 }
}

// MARK: - Protobuf

/// The protobuf wire format, for the few message shapes OTLP needs.
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

// MARK: - JSON

/// OTLP's JSON form, written directly.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings need no escape: copied at once.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: text.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw(#"\""#)
            case UInt8(ascii: "\\"): raw(#"\\"#)
            case UInt8(ascii: "\n"): raw(#"\n"#)
            case UInt8(ascii: "\r"): raw(#"\r"#)
            case UInt8(ascii: "\t"): raw(#"\t"#)
            case 0..<0x20:
                raw(#"\u00"#)
                bytes.append(Self.hexDigits[Int(byte >> 4)])
                bytes.append(Self.hexDigits[Int(byte & 0xf)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    mutating func number(_ value: some CustomStringConvertible) { bytes.append(contentsOf: value.description.utf8) }

    /// A small non-negative integer (an enum's number).
    mutating func number(_ value: Int) { decimal(UInt64(max(0, value))) }

    /// A 64-bit integer: a string in OTLP's JSON.
    mutating func quoted(_ value: UInt64) {
        bytes.append(UInt8(ascii: "\""))
        decimal(value)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func quoted(_ value: Int64) {
        if value < 0 {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(UInt8(ascii: "-"))
            decimal(value.magnitude)
            bytes.append(UInt8(ascii: "\""))
        } else {
            quoted(UInt64(value))
        }
    }

    private mutating func decimal(_ value: UInt64) {
        let start = bytes.count
        var value = value
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
            value /= 10
        } while value > 0
        bytes[start...].reverse()
    }

    /// Ids as lower-case hex in quotes: a trace id's 32 digits (`high` then `low`), a span id's 16.
    mutating func hex(_ high: UInt64, _ low: UInt64? = nil) {
        bytes.append(UInt8(ascii: "\""))
        for part in [high] + (low.map { [$0] } ?? []) {
            for shift in stride(from: 60, through: 0, by: -4) {
                bytes.append(Self.hexDigits[Int((part >> UInt64(shift)) & 0xf)])
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func keyValue(_ key: String, _ value: SpanAttribute) {
        raw(#"{"key":"#)
        string(key)
        raw(#","value":"#)
        anyValue(value)
        raw("}")
    }

    mutating func anyValue(_ value: SpanAttribute) {
        switch OTLPValue(value) {
        case .string(let text):
            raw(#"{"stringValue":"#)
            string(text)
        case .bool(let flag):
            raw(#"{"boolValue":"#)
            if flag { raw("true") } else { raw("false") }
        case .int(let number):
            raw(#"{"intValue":"#)
            quoted(number)
        case .double(let number):
            raw(#"{"doubleValue":"#)
            // Protobuf's JSON form spells the non-finite values so.
            if number.isFinite {
                self.number(number)
            } else {
                string(number.isNaN ? "NaN" : number > 0 ? "Infinity" : "-Infinity")
            }
        case .array(let values):
            raw(#"{"arrayValue":{"values":["#)
            for (index, value) in values.enumerated() {
                if index > 0 { raw(",") }
                anyValue(value)
            }
            raw("]}")
        }
        raw("}")
    }

    mutating func attributes(_ attributes: [(String, SpanAttribute)]) {
        raw(#"["#)
        for (index, (key, value)) in attributes.enumerated() {
            if index > 0 { raw(",") }
            keyValue(key, value)
        }
        raw("]")
    }

    mutating func attributes(_ attributes: SpanAttributes) { self.attributes(attributes.pairs) }

    mutating func span(_ span: FinishedSpan) {
        raw(#"{"traceId":"#)
        hex(span.identity.traceHigh, span.identity.traceLow)
        raw(#","spanId":"#)
        hex(span.identity.spanID)
        if span.parentSpanID != 0 {
            raw(#","parentSpanId":"#)
            hex(span.parentSpanID)
        }
        raw(#","name":"#)
        string(span.name)
        raw(#","kind":"#)
        number(span.kind.otlp)
        raw(#","startTimeUnixNano":"#)
        quoted(span.start)
        raw(#","endTimeUnixNano":"#)
        quoted(span.end)
        raw(#","attributes":"#)
        attributes(span.attributes)
        if !span.events.isEmpty {
            raw(#","events":["#)
            for (index, event) in span.events.enumerated() {
                if index > 0 { raw(",") }
                raw(#"{"timeUnixNano":"#)
                quoted(event.nanosecondsSinceEpoch)
                raw(#","name":"#)
                string(event.name)
                raw(#","attributes":"#)
                attributes(event.attributes)
                raw("}")
            }
            raw("]")
        }
        if !span.links.isEmpty {
            raw(#","links":["#)
            for (index, link) in span.links.enumerated() {
                if index > 0 { raw(",") }
                raw(#"{"traceId":"#)
                hex(link.traceHigh, link.traceLow)
                raw(#","spanId":"#)
                hex(link.spanID)
                raw("}")
            }
            raw("]")
        }
        if let status = span.status {
            raw(#","status":{"code":"#)
            number(status.otlp)
            if let message = status.message, !message.isEmpty {
                raw(#","message":"#)
                string(message)
            }
            raw("}")
        }
        raw("}")
    }
}

/// An attribute's value in OTLP's terms.
enum OTLPValue {
    case string(String)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case array([SpanAttribute])

    init(_ attribute: SpanAttribute) {
        switch attribute {
        case .int32(let value): self = .int(Int64(value))
        case .int64(let value): self = .int(value)
        case .double(let value): self = .double(value)
        case .bool(let value): self = .bool(value)
        case .string(let value): self = .string(value)
        case .int32Array(let values): self = .array(values.map { .int32($0) })
        case .int64Array(let values): self = .array(values.map { .int64($0) })
        case .doubleArray(let values): self = .array(values.map { .double($0) })
        case .boolArray(let values): self = .array(values.map { .bool($0) })
        case .stringArray(let values): self = .array(values.map { .string($0) })
        case .stringConvertible(let value): self = .string(value.description)
        case .stringConvertibleArray(let values): self = .array(values.map { .string($0.description) })
        default: self = .string("\(attribute)")
        }
    }
}
