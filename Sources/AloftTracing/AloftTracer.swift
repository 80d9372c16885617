public import Instrumentation
import Synchronization
public import Tracing

/// A tracer for Aloft's control plane that costs little per span: ids from a seeded generator (no system call),
/// a span's context as one value in its `ServiceContext`, ended spans appended to a bounded queue that an exporter
/// (`OTLPExporter`) drains in batches, and spans sampled out never recorded. It speaks W3C Trace Context
/// (`traceparent`) to callers and containers, so that any OpenTelemetry tracer on the other side joins the trace.
///
/// Why not swift-otel's tracer: measured on the call path, it cost ~50 µs of CPU per `.remote` (three spans),
/// where the goal was 3 µs (bench/README.md, "What observability costs").
public final class AloftTracer: Tracer {
    public typealias Span = RecordedSpan

    /// Where its ended spans wait for the exporter.
    public let queue: SpanQueue
    public let sampler: TraceSampler
    private let identifiers = IdentifierGenerator()

    /// A new span's identity: a child of `parent` (its trace, its sampling), or the root of a new trace. For a
    /// recorder that keeps its own spans (the control plane's), with the ids and sampling this tracer's spans get.
    public func identity(childOf parent: SpanIdentity?) -> SpanIdentity {
        if var identity = parent {
            identity.sampled = sampler.samples(traceLow: identity.traceLow, parent: parent)
            identity.spanID = identifiers.next()
            return identity
        }
        let low = identifiers.next()
        return SpanIdentity(
            traceHigh: identifiers.next(), traceLow: low, spanID: identifiers.next(),
            sampled: sampler.samples(traceLow: low, parent: nil))
    }

    /// Spans go to `queue` (drained by an exporter); `sampler` decides which traces are recorded.
    public init(queue: SpanQueue, sampler: TraceSampler = .parentBased(.alwaysOn)) {
        self.queue = queue
        self.sampler = sampler
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> RecordedSpan {
        var context = context()
        let parent = context.aloftSpan
        let identity = identity(childOf: parent)
        context.aloftSpan = identity
        return RecordedSpan(
            name: operationName, kind: kind, identity: identity, parentSpanID: parent?.spanID ?? 0,
            start: instant().nanosecondsSinceEpoch, context: context, queue: identity.sampled ? queue : nil)
    }

    public func forceFlush() { queue.signal() }

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier),
            let identity = SpanIdentity(traceparent: header)
        else { return }
        context.aloftSpan = identity
    }

    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let identity = context.aloftSpan else { return }
        injector.inject(identity.traceparent, forKey: "traceparent", into: &carrier)
    }
}

/// Which traces are recorded: OpenTelemetry's samplers (`OTEL_TRACES_SAMPLER`).
public enum TraceSampler: Sendable, Hashable {
    case alwaysOn
    case alwaysOff
    /// A share of traces, by their id (the same trace is sampled alike wherever this rule runs).
    case traceIDRatio(Double)
    /// A span with a parent follows its parent's decision; a root follows `root`.
    indirect case parentBased(TraceSampler)

    func samples(traceLow: UInt64, parent: SpanIdentity?) -> Bool {
        switch self {
        case .alwaysOn: return true
        case .alwaysOff: return false
        case .traceIDRatio(let ratio):
            guard ratio < 1 else { return true }
            guard ratio > 0 else { return false }
            // The id's low 63 bits against the ratio of their range, as the spec's ratio sampler does.
            return Double(traceLow & (UInt64.max >> 1)) < ratio * Double(UInt64.max >> 1)
        case .parentBased(let root):
            if let parent { return parent.sampled }
            return root.samples(traceLow: traceLow, parent: nil)
        }
    }
}

private enum AloftSpanKey: ServiceContextKey {
    typealias Value = SpanIdentity
    static var nameOverride: String? { "aloft-span" }
}

extension ServiceContext {
    /// The span a context belongs to, as `AloftTracer` records it.
    public var aloftSpan: SpanIdentity? {
        get { self[AloftSpanKey.self] }
        set { self[AloftSpanKey.self] = newValue }
    }
}
