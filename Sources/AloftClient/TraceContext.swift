import AloftWire
import Instrumentation
import ServiceContextModule
import Tracing

/// The trace context a call carries to the control plane (the envelope's `trace_context`, W3C `traceparent` and
/// `tracestate` headers where the instrument is OpenTelemetry's).
///
/// A caller with a tracer bootstrapped (`InstrumentationSystem.bootstrap`) sends the context of its current span,
/// and `remote` records a client span of its own; the control plane's spans of the call are its children. Inside a
/// container, a body's calls continue the span of the attempt that runs it: the container keeps the headers its
/// input came with (`inherited`), so that it needs no tracer or exporter of its own.
enum TraceContext {
    /// The context of the attempt the current body runs in, as its input's dispatch carried it.
    @TaskLocal static var inherited: [String: String] = [:]

    /// Whether a tracer is bootstrapped in this process (read on the call path: a lock, no allocation).
    static var isTracing: Bool { !(InstrumentationSystem.tracer is NoOpTracer) }

    /// The headers for a call made now: the current span's, else the container's inherited ones.
    static func headers() -> [String: String] {
        guard let context = ServiceContext.current else { return inherited }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: HeaderInjector())
        return headers.isEmpty ? inherited : headers
    }

    /// Runs `body` in a client span named for the call, when a tracer is bootstrapped; else just runs it.
    static func span<T>(_ name: String, function: String, _ body: () async throws -> T) async throws -> T {
        guard isTracing else { return try await body() }
        return try await withSpan(name, ofKind: .client) { span in
            span.attributes["aloft.function"] = function
            return try await body()
        }
    }
}

struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}
