import AloftTracing
import AloftWire
import Instrumentation
import NIOCore
import ServiceContextModule
import Tracing

/// The spans of calls, as the control plane records them, with the tracer it was given (or the process's
/// bootstrapped one): a span per call, and per attempt of an input a queue-wait span and a run span, whose context
/// goes to the container with the input so that the calls its body makes continue the trace.
///
/// Built only when there is a tracer: without one, the call path pays a nil check per event. With `AloftTracer`
/// (what `aloft server --otlp-endpoint` bootstraps) the spans are recorded directly, as compact records with the
/// tracer's ids and sampling, and queued for its exporter when they end: no `ServiceContext`, no attribute
/// dictionaries, no hand-off per span (bench/README.md, "What observability costs"). Any other tracer gets its own
/// spans through swift-distributed-tracing's API.
struct CallTracing: Sendable {
    enum Backend: Sendable {
        case direct(AloftTracer)
        case tracer(any Tracer)
    }

    let backend: Backend
    /// Where the scheduler's spans end: batched for a `Tracer`'s spans, at once for direct ones.
    let ends: SpanEnds

    /// Inputs of one call that get spans of their own: the first ones, by index (a map of a million inputs
    /// would otherwise make two million spans). The call's span counts them all.
    static let tracedInputsPerCall: UInt64 = 100

    /// The tracer to use: the configured one, else the process's bootstrapped one; nil when there is none.
    init?(configured: (any Tracer)?, loop: any EventLoop) {
        let tracer: any Tracer
        if let configured {
            tracer = configured
        } else if InstrumentationSystem.tracer is NoOpTracer {
            return nil
        } else {
            tracer = InstrumentationSystem.tracer
        }
        backend = (tracer as? AloftTracer).map { .direct($0) } ?? .tracer(tracer)
        ends = SpanEnds(loop: loop)
    }

    /// The span of a whole call, a child of the caller's span when it sent one.
    func callSpan(
        function: String, app: String, workspace: String, callID: String, kind: String, headers: [String: String]
    ) -> CallSpan {
        var attributes: [(String, SpanAttribute)] = [
            ("aloft.function", .string(function)), ("aloft.app", .string(app)),
            ("aloft.workspace", .string(workspace)), ("aloft.call_kind", .string(kind)),
        ]
        if !callID.isEmpty { attributes.append(("aloft.call_id", .string(callID))) }
        switch backend {
        case .direct(let tracer):
            let parent = headers["traceparent"].flatMap(SpanIdentity.init(traceparent:))
            return CallSpan(
                tracer: tracer, name: "\(function) call", kind: .server, parent: parent, attributes: attributes)
        case .tracer(let tracer):
            var context = ServiceContext.topLevel
            if !headers.isEmpty { tracer.extract(headers, into: &context, using: HeaderExtractor()) }
            return CallSpan(
                span: tracer.startSpan("\(function) call", context: context, ofKind: .server), attributes: attributes)
        }
    }

    func childSpan(
        _ name: String, of parent: CallSpan, kind: SpanKind = .internal, attributes: [(String, SpanAttribute)]
    ) -> CallSpan {
        switch (backend, parent.record) {
        case (.direct(let tracer), .direct(let record, _)):
            return CallSpan(tracer: tracer, name: name, kind: kind, parent: record.identity, attributes: attributes)
        case (.tracer(let tracer), .tracer(let span)):
            return CallSpan(
                span: tracer.startSpan(name, context: span.context, ofKind: kind), attributes: attributes)
        default:
            preconditionFailure("a span of another backend")
        }
    }

    /// Puts `span`'s context on the dispatch that takes its input to a container: a direct span's `traceparent` in
    /// its own field, another tracer's headers in the `trace_context` map.
    func carry(_ span: CallSpan, in dispatch: inout Aloft_V1_InputDispatch) {
        switch (backend, span.record) {
        case (_, .direct(let record, _)):
            dispatch.traceparent = record.identity.traceparent
        case (.tracer(let tracer), .tracer(let span)):
            tracer.inject(span.context, into: &dispatch.traceContext, using: HeaderInjector())
        default:
            break
        }
    }
}

/// One span the scheduler records: a compact record of `AloftTracer`'s, or a span of another tracer with the
/// attributes it will be given when it ends (set at once: each `span.attributes[key] = value` copies the set).
/// Used on the scheduler's loop only.
final class CallSpan: @unchecked Sendable {
    enum Record {
        case direct(FinishedSpan, queue: SpanQueue)
        case tracer(any Span)
    }

    private(set) var record: Record
    private var attributes: [(String, SpanAttribute)]
    private var status: SpanStatus?
    private var ended = false

    init(
        tracer: AloftTracer, name: String, kind: SpanKind, parent: SpanIdentity?, attributes: [(String, SpanAttribute)]
    ) {
        let identity = tracer.identity(childOf: parent)
        let now = DefaultTracerClock.now.nanosecondsSinceEpoch
        record = .direct(
            FinishedSpan(
                name: name, kind: kind, identity: identity, parentSpanID: parent?.spanID ?? 0, start: now, end: now),
            queue: tracer.queue)
        self.attributes = attributes
    }

    init(span: any Span, attributes: [(String, SpanAttribute)]) {
        record = .tracer(span)
        self.attributes = attributes
    }

    func set(_ key: String, _ value: SpanAttribute) { attributes.append((key, value)) }

    func setStatus(_ status: SpanStatus) { self.status = status }

    /// Ends it at `instant` (once): a direct record is queued for export if its trace is sampled.
    func end(at instant: UInt64) {
        guard !ended else { return }
        ended = true
        switch record {
        case .direct(var span, let queue):
            guard span.identity.sampled else { return }
            span.end = instant
            span.attributes = attributes
            span.status = status
            queue.append(span)
        case .tracer(let span):
            var set: SpanAttributes = [:]
            for (key, value) in attributes { set[key] = value }
            span.attributes = set
            if let status { span.setStatus(status) }
            span.end(at: TracerNanoseconds(nanosecondsSinceEpoch: instant))
        }
    }

    var isDirect: Bool { if case .direct = record { true } else { false } }
}

/// An instant as nanoseconds since the Unix epoch, for `Span.end(at:)`.
struct TracerNanoseconds: TracerInstant {
    let nanosecondsSinceEpoch: UInt64
    static func < (lhs: Self, rhs: Self) -> Bool { lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch }
}

/// The spans of one input: those of its current attempt, and its call's span when it is a `.remote` (one input,
/// no call record of its own).
final class InputTrace: @unchecked Sendable {
    /// Its call's span: the parent of its attempts' spans.
    let call: CallSpan
    /// A `.remote` call's span, ended with its answer.
    var ownCallSpan: CallSpan?
    var queueWait: CallSpan?
    var run: CallSpan?
    var attempts = 0

    init(call: CallSpan, ownCallSpan: CallSpan? = nil) {
        self.call = call
        self.ownCallSpan = ownCallSpan
    }

    /// Opens a queue wait of the current attempt.
    func openQueueWait(_ tracing: CallTracing) {
        queueWait = tracing.childSpan("queue wait", of: call, attributes: [("aloft.attempt", .int64(Int64(attempts)))])
    }

    func endQueueWait(_ ends: SpanEnds, status: Aloft_V1_Status? = nil, message: String = "") {
        if let queueWait { ends.end(queueWait, status: status, message: message) }
        queueWait = nil
    }

    func endRun(_ ends: SpanEnds, status: Aloft_V1_Status, message: String = "") {
        if let run { ends.end(run, status: status, message: message) }
        run = nil
    }

    /// Ends whatever is open of it: its queue wait or run, and a `.remote`'s call span.
    func endAll(_ ends: SpanEnds, status: Aloft_V1_Status, message: String) {
        endQueueWait(ends, status: status, message: message)
        endRun(ends, status: status, message: message)
        if let ownCallSpan { ends.end(ownCallSpan, status: status, message: message) }
        ownCallSpan = nil
    }
}

/// Ends spans at the moment they end. A direct span is queued for its exporter at once (an append under a lock);
/// another tracer's are handed to it in batches (every 20 ms, or 512 at a time), on the scheduler's loop: a
/// tracer's processor may wake a thread for each span it is handed (swift-otel's batch processor does), and a
/// `.remote` ends three spans here.
final class SpanEnds: @unchecked Sendable {
    private let loop: any EventLoop
    private var pending: [(span: CallSpan, at: UInt64)] = []
    /// After shutdown: each span goes to the tracer as it ends.
    private var batching = true

    init(loop: any EventLoop) { self.loop = loop }

    /// Ends `span` now, with `status` (a wire result's) when given.
    func end(_ span: CallSpan, status: Aloft_V1_Status? = nil, message: String = "") {
        switch status {
        case nil: break
        case .success: span.setStatus(SpanStatus(code: .ok))
        case let status?:
            span.set("aloft.status", .string("\(status)"))
            span.setStatus(SpanStatus(code: .error, message: message.isEmpty ? "\(status)" : message))
        }
        let now = DefaultTracerClock.now.nanosecondsSinceEpoch
        guard !span.isDirect else { return span.end(at: now) }
        pending.append((span, now))
        if pending.count >= 512 || !batching {
            flush()
        } else if pending.count == 1 {
            loop.scheduleTask(in: .milliseconds(20)) { [self] in flush() }
        }
    }

    /// Hands what has ended to the tracer now, and each span from now on as it ends (at shutdown).
    func stopBatching() {
        batching = false
        flush()
    }

    /// Hands the ended spans to the tracer.
    func flush() {
        let ended = pending
        pending = []
        for (span, instant) in ended { span.end(at: instant) }
    }
}

struct HeaderExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}
