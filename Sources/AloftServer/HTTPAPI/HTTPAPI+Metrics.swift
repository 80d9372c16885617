import AloftControlPlane
import AloftCore
import Hummingbird
import NIOCore
package import Prometheus

// The server's metrics in Prometheus's text format, for the operator (docs/metrics.md):
//
//     GET /metrics    (a client token of workspace `main`)  ->  200 text/plain; version=0.0.4

extension HTTPAPI {
    static func addMetrics(
        to router: Router<APIRequestContext>, registry: PrometheusCollectorRegistry, controlPlane: ControlPlane,
        authenticator: any ClientAuthenticator
    ) {
        router.group("metrics").add(middleware: Authentication(authenticator: authenticator, kinds: [.client]))
            .get { _, context -> Response in
                // Metrics name every workspace's apps and functions: they are the operator's.
                guard context.workspace == "main" else {
                    throw AloftError(
                        .unauthenticated, "metrics are read with a client token of workspace main (the operator's)")
                }
                try await controlPlane.updateGauges()
                var bytes: [UInt8] = []
                registry.emit(into: &bytes)
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
            }
    }
}

extension PrometheusMetricsFactory {
    /// A factory on `registry` whose timers' buckets reach down to 100 µs (a call's time on this host) and up to
    /// 5 minutes (a cold start of a big executable, a long input).
    package static func aloft(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
            .seconds(30), .seconds(60), .seconds(300),
        ]
        return factory
    }
}
