import AloftWire
import Instrumentation
import NIOCore
import ServiceContextModule
import Tracing

/// The spans of calls, as the control plane records them, with the tracer it was given (or the process's
/// bootstrapped one): a span per call, and per attempt of an input a queue-wait span and a run span, whose context
/// goes to the container with the input so that the calls its body makes continue the trace.
///
/// Built only when there is a tracer: without one, the call path pays a nil check per event.
struct CallTracing: Sendable {
    let tracer: any Tracer
    /// Where the scheduler's spans end, in batches.
    let ends: SpanEnds

    /// Inputs of one call that get spans of their own: the first ones, by index (a map of a million inputs
    /// would otherwise make two million spans). The call's span counts them all.
    static let tracedInputsPerCall: UInt64 = 100

    /// The tracer to use: the configured one, else the process's bootstrapped one; nil when there is none.
    init?(configured: (any Tracer)?, loop: any EventLoop) {
        if let configured {
            tracer = configured
        } else if InstrumentationSystem.tracer is NoOpTracer {
            return nil
        } else {
            tracer = InstrumentationSystem.tracer
        }
        ends = SpanEnds(loop: loop)
    }

    /// The context a caller sent (its span's), or a new trace when it sent none.
    func context(from headers: [String: String]) -> ServiceContext {
        var context = ServiceContext.topLevel
        if !headers.isEmpty { tracer.extract(headers, into: &context, using: HeaderExtractor()) }
        return context
    }

    func headers(for context: ServiceContext) -> [String: String] {
        var headers: [String: String] = [:]
        tracer.inject(context, into: &headers, using: HeaderInjector())
        return headers
    }

    /// The span of a whole call, a child of the caller's span when it sent one.
    func callSpan(
        function: String, app: String, workspace: String, callID: String, kind: String, headers: [String: String]
    ) -> any Span {
        let span = tracer.startSpan("\(function) call", context: context(from: headers), ofKind: .server)
        span.attributes["aloft.function"] = function
        span.attributes["aloft.app"] = app
        span.attributes["aloft.workspace"] = workspace
        span.attributes["aloft.call_kind"] = kind
        if !callID.isEmpty { span.attributes["aloft.call_id"] = callID }
        return span
    }

    func childSpan(_ name: String, of parent: ServiceContext, kind: SpanKind = .internal) -> any Span {
        tracer.startSpan(name, context: parent, ofKind: kind)
    }
}

/// The spans of one input: those of its current attempt, and its call's span when it is a `.remote` (one input,
/// no call record of its own).
final class InputTrace: @unchecked Sendable {
    /// The context of its call's span: the parent of its attempts' spans.
    let call: ServiceContext
    /// A `.remote` call's span, ended with its answer.
    var ownCallSpan: (any Span)?
    var queueWait: (any Span)?
    var run: (any Span)?
    var attempts = 0

    init(call: ServiceContext, ownCallSpan: (any Span)? = nil) {
        self.call = call
        self.ownCallSpan = ownCallSpan
    }

    /// Opens a queue wait of the current attempt.
    func openQueueWait(_ tracing: CallTracing) {
        let span = tracing.childSpan("queue wait", of: call)
        span.attributes["aloft.attempt"] = attempts
        queueWait = span
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

/// Ends spans at the moment they end, but hands them to the tracer in batches (every 20 ms, or 512 at a time),
/// on the scheduler's loop. A tracer's processor may wake a thread for each span it is handed (swift-otel's batch
/// processor does, through an `AsyncStream`): a `.remote` ends three spans here, and three wake-ups per call would
/// cost more than the call itself. Ending them together wakes it once for many.
final class SpanEnds: @unchecked Sendable {
    private let loop: any EventLoop
    private var pending: [(span: any Span, at: DefaultTracerClock.Instant)] = []
    /// After shutdown: each span goes to the tracer as it ends.
    private var batching = true

    init(loop: any EventLoop) { self.loop = loop }

    /// Ends `span` now, with `status` (a wire result's) when given.
    func end(_ span: any Span, status: Aloft_V1_Status? = nil, message: String = "") {
        switch status {
        case nil: break
        case .success: span.setStatus(SpanStatus(code: .ok))
        case let status?:
            span.attributes["aloft.status"] = "\(status)"
            span.setStatus(SpanStatus(code: .error, message: message.isEmpty ? "\(status)" : message))
        }
        pending.append((span, DefaultTracerClock.now))
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
