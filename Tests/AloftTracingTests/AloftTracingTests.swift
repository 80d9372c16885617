import AloftCore
import Foundation
import Instrumentation
import Testing
import Tracing

@testable import AloftOTLP
@testable import AloftTracing

@Suite("AloftTracer and its OTLP export")
struct AloftTracingTests {
    @Test("traceparent: written as W3C says, read back; malformed ones and zero ids are refused")
    func traceparent() throws {
        let identity = SpanIdentity(
            traceHigh: 0x0af7_6519_16cd_43dd, traceLow: 0x8448_eb21_1c80_319c, spanID: 0xb7ad_6b71_6920_3331,
            sampled: true)
        #expect(identity.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        #expect(SpanIdentity(traceparent: identity.traceparent) == identity)
        var unsampled = identity
        unsampled.sampled = false
        #expect(SpanIdentity(traceparent: unsampled.traceparent) == unsampled)
        // A later version may carry more fields after a dash.
        #expect(SpanIdentity(traceparent: "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra") == identity)
        for bad in [
            "", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",  // upper case: W3C says to ignore it
        ] {
            #expect(SpanIdentity(traceparent: bad) == nil, "\(bad)")
        }
    }

    @Test("a child keeps its parent's trace and sampling; ratios sample about their share; ids are unique")
    func sampling() {
        let tracer = AloftTracer(queue: SpanQueue(), sampler: .parentBased(.traceIDRatio(0.25)))
        var sampled = 0
        var ids: Set<UInt64> = []
        for _ in 0..<4_000 {
            let root = tracer.identity(childOf: nil)
            if root.sampled { sampled += 1 }
            let child = tracer.identity(childOf: root)
            #expect(child.traceHigh == root.traceHigh && child.traceLow == root.traceLow)
            #expect(child.sampled == root.sampled && child.spanID != root.spanID)
            ids.insert(root.spanID)
            ids.insert(child.spanID)
        }
        #expect((800...1200).contains(sampled), "\(sampled) of 4000")
        #expect(ids.count == 8_000)
        #expect(!TraceSampler.alwaysOff.samples(traceLow: 1, parent: nil))
        #expect(TraceSampler.traceIDRatio(1).samples(traceLow: .max, parent: nil))
    }

    @Test(
        "spans through swift-distributed-tracing's API: parent and child, attributes, status, error events, a full queue drops"
    )
    func throughTheAPI() throws {
        let queue = SpanQueue(capacity: 3, batchSize: 3)
        let tracer = AloftTracer(queue: queue)
        let parent = tracer.startSpan("parent", context: .topLevel, ofKind: .server)
        let child = tracer.startSpan("child", context: parent.context)
        child.attributes["k"] = "v"
        child.recordError(AloftError(.remoteError, "boom"))
        child.setStatus(SpanStatus(code: .error, message: "boom"))
        child.end()
        child.end()  // once
        parent.end()
        var headers: [String: String] = [:]
        tracer.inject(parent.context, into: &headers, using: DictionaryInjector())
        var extracted = ServiceContext.topLevel
        tracer.extract(headers, into: &extracted, using: DictionaryExtractor())
        #expect(extracted.aloftSpan == parent.context.aloftSpan)
        for index in 0..<3 { tracer.startSpan("extra \(index)", context: .topLevel).end() }
        let (spans, dropped) = queue.take()
        #expect(spans.map(\.name) == ["child", "parent", "extra 0"] && dropped == 2)
        #expect(spans[0].parentSpanID == spans[1].identity.spanID)
        #expect(spans[0].identity.traceHigh == spans[1].identity.traceHigh && spans[1].parentSpanID == 0)
        #expect(spans[0].attributes.first { $0.0 == "k" }?.1 == .string("v"))
        #expect(spans[0].status?.code == .error && spans[0].events.map(\.name) == ["exception"])
        let off = AloftTracer(queue: queue, sampler: .alwaysOff).startSpan("off", context: .topLevel)
        #expect(!off.isRecording && off.context.aloftSpan?.sampled == false)
    }

    static func batch() -> OTLPBatch {
        let identity = SpanIdentity(
            traceHigh: 0x0102_0304_0506_0708, traceLow: 0x090a_0b0c_0d0e_0f10, spanID: 0x1112_1314_1516_1718,
            sampled: true)
        var span = FinishedSpan(
            name: "f call", kind: .server, identity: identity, parentSpanID: 0x2122_2324_2526_2728,
            start: 1_700_000_000_000_000_001, end: 1_700_000_000_500_000_000,
            attributes: [
                ("aloft.function", .string("f \"quoted\"\n")), ("aloft.inputs", .int64(-3)), ("ratio", .double(0.5)),
                ("ok", .bool(true)), ("none", .double(.nan)),
            ],
            status: SpanStatus(code: .error, message: "oops: it failed"))
        span.events = [
            SpanEvent(name: "exception", at: DefaultTracerClock.now, attributes: ["exception.message": "boom"])
        ]
        return OTLPBatch(spans: [span], resource: [("service.name", "aloft-test")])
    }

    @Test("OTLP/HTTP JSON: ids in hex, 64-bit integers as strings, enums as numbers")
    func json() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(Self.batch().json())) as? [String: Any])
        let resource = try #require((object["resourceSpans"] as? [[String: Any]])?.first)
        let attributes = (resource["resource"] as? [String: Any])?["attributes"] as? [[String: Any]]
        #expect((attributes?.first?["value"] as? [String: Any])?["stringValue"] as? String == "aloft-test")
        let scope = try #require((resource["scopeSpans"] as? [[String: Any]])?.first)
        let span = try #require((scope["spans"] as? [[String: Any]])?.first)
        #expect(span["traceId"] as? String == "0102030405060708090a0b0c0d0e0f10")
        #expect(
            span["spanId"] as? String == "1112131415161718" && span["parentSpanId"] as? String == "2122232425262728")
        #expect(span["name"] as? String == "f call" && span["kind"] as? Int == 2)
        #expect(span["startTimeUnixNano"] as? String == "1700000000000000001")
        let values = try #require(span["attributes"] as? [[String: Any]]).map { $0["value"] as? [String: Any] ?? [:] }
        #expect(values[0]["stringValue"] as? String == "f \"quoted\"\n" && values[1]["intValue"] as? String == "-3")
        #expect(values[2]["doubleValue"] as? Double == 0.5 && values[3]["boolValue"] as? Bool == true)
        #expect(values[4]["doubleValue"] as? String == "NaN")
        let status = try #require(span["status"] as? [String: Any])
        #expect(status["code"] as? Int == 2 && status["message"] as? String == "oops: it failed")
        #expect((span["events"] as? [[String: Any]])?.first?["name"] as? String == "exception")
    }

    @Test("OTLP/HTTP protobuf: protoc's own decoder reads the fields where opentelemetry-proto puts them")
    func protobuf() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/protoc") else {
            #expect(ProcessInfo.processInfo.environment["ALOFT_REQUIRE_PROTOC"] == nil, "protoc is required here")
            return
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-\(UUID()).bin")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(Self.batch().protobuf()).write(to: file)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "/usr/bin/protoc --decode_raw < '\(file.path)'"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        // ExportTraceServiceRequest.resource_spans(1) > ResourceSpans.scope_spans(2) > ScopeSpans.spans(2) > Span.
        let compact = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        #expect(
            compact.contains(#"1 { 1 { 1 { 1: "service.name" 2 { 1: "aloft-test" } } } 2 { 1 { 1: "aloft" } 2 {"#),
            "\(compact)")
        // trace_id
        #expect(compact.contains(#"1: "\001\002\003\004\005\006\007\010\t\n\013\014\r\016\017\020""#), "\(compact)")
        #expect(compact.contains(##"4: "!\"#$%&\'(""##), "\(compact)")  // parent_span_id 0x21…0x28
        #expect(compact.contains(#"5: "f call" 6: 2 7: 0x"#), "\(compact)")  // name, kind SERVER, start (fixed64)
        #expect(compact.contains(#"9 { 1: "aloft.inputs" 2 { 3: 18446744073709551613 } }"#), "\(compact)")  // int -3
        // Status ERROR; its message starts with "o" (0x6f, no valid tag), so protoc shows it as text, not a message.
        #expect(compact.contains(#"15 { 2: "oops: it failed" 3: 2 }"#), "\(compact)")
        #expect(compact.contains(#"11 { 1: 0x"#), "\(compact)")  // an event with its time
    }

    @Test("configuration: flag > environment > defaults; unusable values are clear errors")
    func configuration() throws {
        #expect(try OTLPConfiguration.resolve(endpoint: nil, environment: [:], serviceName: "s") == nil)
        let fromFlag = try #require(
            try OTLPConfiguration.resolve(
                endpoint: "http://collector:4318/", environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://other"],
                serviceName: "s"))
        #expect(fromFlag.endpoint == "http://collector:4318/v1/traces" && fromFlag.encoding == .protobuf)
        let environment = [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector/custom",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%20b,x=y", "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1",
            "OTEL_SERVICE_NAME": "mine", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod",
        ]
        let configured = try #require(
            try OTLPConfiguration.resolve(endpoint: nil, environment: environment, serviceName: "s"))
        #expect(configured.endpoint == "https://collector/custom" && configured.encoding == .json)
        #expect(configured.headers.map { "\($0.name)=\($0.value)" } == ["api-key=a b", "x=y"])
        #expect(
            configured.scheduleDelay == .milliseconds(100) && configured.sampler == .parentBased(.traceIDRatio(0.1)))
        #expect(configured.resource.map { "\($0.0)=\($0.1)" } == ["service.name=mine", "deployment.environment=prod"])
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_BSP_SCHEDULE_DELAY", "0"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"), ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
        ] {
            var bad = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector", "OTEL_TRACES_SAMPLER": "traceidratio"]
            bad[name] = value
            #expect(throws: AloftError.self, "\(name)=\(value)") {
                try OTLPConfiguration.resolve(endpoint: nil, environment: bad, serviceName: "s")
            }
        }
        #expect(throws: AloftError.self) {
            try OTLPConfiguration.resolve(endpoint: "ftp://x", environment: [:], serviceName: "s")
        }
    }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
