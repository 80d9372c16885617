import Instrumentation
import Logging
import OTel
import ServiceLifecycle

/// The server's spans exported over OTLP/HTTP (swift-otel), when an endpoint is configured: `--otlp-endpoint`,
/// else OpenTelemetry's own `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`. The other
/// `OTEL_*` variables (protocol, headers, batch delay, sampler) apply as swift-otel reads them. Only traces: the
/// server's metrics are Prometheus's (`/metrics`) and its logs stay on standard error.
enum TraceExport {
    /// Bootstraps the process's tracer and returns the service that exports its spans, or nil when no endpoint is
    /// configured (then there is no tracer, and the control plane records nothing).
    static func bootstrap(
        endpoint flag: String?, environment: [String: String], logger: Logger
    ) throws -> (any Service)? {
        let fromEnvironment =
            environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
        guard let endpoint = flag ?? fromEnvironment, !endpoint.isEmpty else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "aloft-server"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.diagnosticLogLevel = .warning
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        if let flag {
            // The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is: the traces' path is added to it.
            var base = flag
            while base.hasSuffix("/") { base.removeLast() }
            configuration.traces.otlpExporter.endpoint = base.hasSuffix("/v1/traces") ? base : base + "/v1/traces"
        }
        let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(tracer)
        logger.info("tracing: calls' spans are exported over OTLP", metadata: ["aloft.otlp_endpoint": "\(endpoint)"])
        return service
    }
}
