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
