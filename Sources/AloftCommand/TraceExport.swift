import AloftOTLP
import Instrumentation
import Logging
import ServiceLifecycle

/// The server's spans exported over OTLP/HTTP (AloftTracing), when an endpoint is configured: `--otlp-endpoint`,
/// else OpenTelemetry's own `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`. The other
/// `OTEL_*` variables (protocol, headers, timeout, batching, sampler, service name) apply (docs/tracing.md). Only
/// traces: the server's metrics are Prometheus's (`/metrics`) and its logs stay on standard error.
enum TraceExport {
    /// Bootstraps the process's tracer and returns the service that exports its spans, or nil when no endpoint is
    /// configured (then there is no tracer, and the control plane records nothing).
    static func bootstrap(
        endpoint flag: String?, environment: [String: String], logger: Logger
    ) throws -> (any Service)? {
        guard
            let configuration = try OTLPConfiguration.resolve(
                endpoint: flag, environment: environment, serviceName: "aloft-server")
        else { return nil }
        let exporter = OTLPExporter(configuration: configuration, logger: logger)
        InstrumentationSystem.bootstrap(exporter.tracer)
        logger.info(
            "tracing: calls' spans are exported over OTLP",
            metadata: [
                "aloft.otlp_endpoint": "\(configuration.endpoint)",
                "aloft.otlp_protocol": "\(configuration.encoding.rawValue)",
            ])
        return exporter
    }
}
