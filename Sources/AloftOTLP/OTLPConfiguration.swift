public import AloftCore
import Foundation
public import AloftTracing

/// Where and how spans are exported, from a flag > OpenTelemetry's environment variables > defaults, in one place
/// (docs/tracing.md lists them).
public struct OTLPConfiguration: Sendable {
    public enum Encoding: String, Sendable {
        case protobuf = "http/protobuf"
        case json = "http/json"
    }

    /// The traces' URL (`…/v1/traces`).
    public var endpoint: String
    public var encoding: Encoding
    /// Sent with every export (a collector's token).
    public var headers: [(name: String, value: String)]
    public var timeout: Duration
    /// How long ended spans wait to be exported, unless a batch fills first.
    public var scheduleDelay: Duration
    public var queueSize: Int
    public var batchSize: Int
    public var sampler: TraceSampler
    /// The resource's attributes, `service.name` first.
    public var resource: [(String, String)]

    public init(
        endpoint: String, encoding: Encoding = .protobuf, headers: [(name: String, value: String)] = [],
        timeout: Duration = .seconds(10), scheduleDelay: Duration = .seconds(5), queueSize: Int = 2048,
        batchSize: Int = 512, sampler: TraceSampler = .parentBased(.alwaysOn), serviceName: String = "aloft"
    ) {
        self.endpoint = endpoint
        self.encoding = encoding
        self.headers = headers
        self.timeout = timeout
        self.scheduleDelay = scheduleDelay
        self.queueSize = queueSize
        self.batchSize = batchSize
        self.sampler = sampler
        self.resource = [("service.name", serviceName)]
    }

    /// The configuration `flag` (a base URL: `/v1/traces` is added) or the environment asks for; nil when neither
    /// names an endpoint (then nothing is traced). Throws `invalidConfiguration` for a value it cannot use.
    public static func resolve(
        endpoint flag: String?, environment: [String: String], serviceName: String
    ) throws(AloftError) -> OTLPConfiguration? {
        func value(_ name: String) -> String? {
            (environment["OTEL_EXPORTER_OTLP_TRACES_" + name] ?? environment["OTEL_EXPORTER_OTLP_" + name])
                .flatMap { $0.isEmpty ? nil : $0 }
        }
        let endpoint: String
        if let flag, !flag.isEmpty {
            endpoint = tracesURL(base: flag)
        } else if let traces = environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], !traces.isEmpty {
            endpoint = traces  // as given, as the spec says
        } else if let base = environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !base.isEmpty {
            endpoint = tracesURL(base: base)
        } else {
            return nil
        }
        guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw AloftError(.invalidConfiguration, "the OTLP endpoint '\(endpoint)' is not an http(s) URL")
        }
        var configuration = OTLPConfiguration(
            endpoint: endpoint,
            serviceName: environment["OTEL_SERVICE_NAME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? serviceName)
        if let encoding = value("PROTOCOL") {
            guard let known = Encoding(rawValue: encoding) else {
                throw AloftError(
                    .invalidConfiguration,
                    "OTLP protocol '\(encoding)' is not built in: use http/protobuf or http/json (OTLP over HTTP)")
            }
            configuration.encoding = known
        }
        configuration.headers = try pairs(value("HEADERS"), what: "OTEL_EXPORTER_OTLP_HEADERS").map {
            (name: $0.0, value: $0.1)
        }
        if let timeout = try milliseconds(value("TIMEOUT"), "OTEL_EXPORTER_OTLP_TIMEOUT") {
            configuration.timeout = timeout
        }
        if let delay = try milliseconds(environment["OTEL_BSP_SCHEDULE_DELAY"], "OTEL_BSP_SCHEDULE_DELAY", least: 1) {
            configuration.scheduleDelay = delay
        }
        if let size = try count(environment["OTEL_BSP_MAX_QUEUE_SIZE"], "OTEL_BSP_MAX_QUEUE_SIZE") {
            configuration.queueSize = size
        }
        if let size = try count(environment["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"], "OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
            configuration.batchSize = size
        }
        configuration.sampler = try sampler(environment["OTEL_TRACES_SAMPLER"], environment["OTEL_TRACES_SAMPLER_ARG"])
        for (key, value) in try pairs(environment["OTEL_RESOURCE_ATTRIBUTES"], what: "OTEL_RESOURCE_ATTRIBUTES")
        where key != "service.name" {
            configuration.resource.append((key, value))
        }
        return configuration
    }

    private static func tracesURL(base: String) -> String {
        var base = base
        while base.hasSuffix("/") { base.removeLast() }
        return base.hasSuffix("/v1/traces") ? base : base + "/v1/traces"
    }

    /// `key=value,key=value`, values percent-decoded (W3C Baggage's form, as OpenTelemetry's variables use).
    private static func pairs(_ text: String?, what: String) throws(AloftError) -> [(String, String)] {
        guard let text else { return [] }
        var result: [(String, String)] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            let key = parts.first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard parts.count == 2, !key.isEmpty else {
                throw AloftError(.invalidConfiguration, "\(what): '\(item)' is not key=value")
            }
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            result.append((key, value.removingPercentEncoding ?? value))
        }
        return result
    }

    private static func milliseconds(_ text: String?, _ name: String, least: Int = 0) throws(AloftError) -> Duration? {
        guard let text else { return nil }
        guard let value = Int(text), value >= least, value <= 3_600_000 else {
            throw AloftError(
                .invalidConfiguration, "\(name) must be milliseconds from \(least) to 3600000, not '\(text)'")
        }
        return .milliseconds(value)
    }

    private static func count(_ text: String?, _ name: String) throws(AloftError) -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), value >= 1, value <= 1_000_000 else {
            throw AloftError(.invalidConfiguration, "\(name) must be from 1 to 1000000, not '\(text)'")
        }
        return value
    }

    private static func sampler(_ name: String?, _ argument: String?) throws(AloftError) -> TraceSampler {
        func ratio() throws(AloftError) -> Double {
            guard let argument else { return 1 }
            guard let ratio = Double(argument), (0...1).contains(ratio) else {
                throw AloftError(
                    .invalidConfiguration, "OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, not '\(argument)'")
            }
            return ratio
        }
        switch name ?? "parentbased_always_on" {
        case "always_on": return .alwaysOn
        case "always_off": return .alwaysOff
        case "traceidratio": return .traceIDRatio(try ratio())
        case "parentbased_always_on": return .parentBased(.alwaysOn)
        case "parentbased_always_off": return .parentBased(.alwaysOff)
        case "parentbased_traceidratio": return .parentBased(.traceIDRatio(try ratio()))
        case let other:
            throw AloftError(
                .invalidConfiguration,
                "OTEL_TRACES_SAMPLER '\(other)' is not one of always_on, always_off, traceidratio, "
                    + "parentbased_always_on, parentbased_always_off, parentbased_traceidratio")
        }
    }
}
