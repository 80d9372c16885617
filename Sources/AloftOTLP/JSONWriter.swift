import AloftTracing
import Tracing

/// OTLP's JSON form (`OTLPBatch.json()`), written directly: ids in hex, 64-bit integers as strings.
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
