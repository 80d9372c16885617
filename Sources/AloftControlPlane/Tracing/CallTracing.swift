import AloftWire
import Instrumentation
import ServiceContextModule
import Tracing

/// The spans of calls, as the control plane records them, with the tracer it was given (or the process's
/// bootstrapped one): a span per call, and per attempt of an input a queue-wait span and a run span, whose context
/// goes to the container with the input so that the calls its body makes continue the trace.
///
/// Built only when there is a tracer: without one, the call path pays a nil check per event.
struct CallTracing: Sendable {
    let tracer: any Tracer

    /// Inputs of one call that get spans of their own: the first ones, by index (a map of a million inputs
    /// would otherwise make two million spans). The call's span counts them all.
    static let tracedInputsPerCall: UInt64 = 100

    /// The tracer to use: the configured one, else the process's bootstrapped one; nil when there is none.
    init?(configured: (any Tracer)?) {
        if let configured {
            tracer = configured
        } else if InstrumentationSystem.tracer is NoOpTracer {
            return nil
        } else {
            tracer = InstrumentationSystem.tracer
        }
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
}

extension Span {
    /// Ends the span with a wire result's status.
    func end(with status: Aloft_V1_Status, message: String = "") {
        switch status {
        case .success: setStatus(SpanStatus(code: .ok))
        default:
            attributes["aloft.status"] = "\(status)"
            setStatus(SpanStatus(code: .error, message: message.isEmpty ? "\(status)" : message))
        }
        end()
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
