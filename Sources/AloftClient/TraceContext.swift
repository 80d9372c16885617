import AloftWire
import Instrumentation
import ServiceContextModule

/// The trace context a call carries to the control plane (the envelope's `trace_context`, W3C `traceparent` and
/// `tracestate` headers where the instrument is OpenTelemetry's).
///
/// A caller with a tracer bootstrapped (`InstrumentationSystem.bootstrap`) sends the context of its current span:
/// the control plane's spans of the call are its children. The SDK records no client span of its own: measured, one
/// per `.remote` cost more than the control plane's three (bench/README.md, "What observability costs"). Inside a
/// container, a body's calls continue the span of the attempt that runs it: the container keeps the headers its
/// input came with (`inherited`), so that it needs no tracer or exporter of its own.
enum TraceContext {
    /// The context of the attempt the current body runs in, as its input's dispatch carried it.
    @TaskLocal static var inherited: [String: String] = [:]

    /// The context an input's dispatch carries: its `traceparent` field (AloftTracer's) or its `trace_context` map.
    static func carried(by dispatch: Aloft_V1_InputDispatch) -> [String: String] {
        guard !dispatch.traceparent.isEmpty else { return dispatch.traceContext }
        var headers = dispatch.traceContext
        headers["traceparent"] = dispatch.traceparent
        return headers
    }

    /// The headers for a call made now: the current span's, else the container's inherited ones.
    static func headers() -> [String: String] {
        guard let context = ServiceContext.current else { return inherited }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: HeaderInjector())
        return headers.isEmpty ? inherited : headers
    }
}

struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}
