import AloftOTLP
import AloftTracing
import AloftWire
import Foundation
import Instrumentation
import SwiftProtobuf
import Tracing

/// `aloft-bench -- spans`: what tracing costs per `.remote` in the control plane, with no call around it, in ns per
/// call: the span work of one call (the caller's `traceparent` read, the call span with its attributes, a queue wait,
/// a run span whose `traceparent` is written for the dispatch, their ends), repeated. Two ways:
/// - `direct`: as the control plane records spans for `AloftTracer` (Tracing/CallTracing.swift): records with the
///   tracer's ids and sampling, queued when they end;
/// - `tracer-api`: through swift-distributed-tracing's API (`startSpan`, `SpanAttributes`, `ServiceContext`), as
///   it does for any other tracer, here with `AloftTracer` behind it.
/// Spans go to a queue replaced each round, as if an exporter had emptied it (encoding and sending are batched,
/// off the call path).
func spanCost() {
    let caller = ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]
    struct Extract: Extractor {
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    }
    struct Inject: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }
    func now() -> UInt64 { DefaultTracerClock.now.nanosecondsSinceEpoch }
    func direct(_ tracer: AloftTracer) -> Int {
        let parent = caller["traceparent"].flatMap(SpanIdentity.init(traceparent:))
        let callStart = now()
        let call = tracer.identity(childOf: parent)
        let callAttributes: [(String, SpanAttribute)] = [
            ("aloft.function", .string("square")), ("aloft.app", .string("bench")), ("aloft.workspace", .string("")),
            ("aloft.call_kind", .string("remote")),
        ]
        let waitStart = now()
        let wait = tracer.identity(childOf: call)
        tracer.queue.append(
            FinishedSpan(
                name: "queue wait", kind: .internal, identity: wait, parentSpanID: call.spanID, start: waitStart,
                end: now(), attributes: [("aloft.attempt", .int64(1))]))
        let runStart = now()
        let run = tracer.identity(childOf: call)
        let headers = ["traceparent": run.traceparent]
        tracer.queue.append(
            FinishedSpan(
                name: "run", kind: .consumer, identity: run, parentSpanID: call.spanID, start: runStart, end: now(),
                attributes: [
                    ("aloft.attempt", .int64(1)), ("aloft.container_id", .string("ctr-0123456789abcdef")),
                    ("aloft.host", .string("local")),
                ], status: SpanStatus(code: .ok)))
        tracer.queue.append(
            FinishedSpan(
                name: "square call", kind: .server, identity: call, parentSpanID: parent?.spanID ?? 0,
                start: callStart, end: now(), attributes: callAttributes, status: SpanStatus(code: .ok)))
        return headers.count
    }
    func throughAPI(_ tracer: AloftTracer) -> Int {
        var context = ServiceContext.topLevel
        tracer.extract(caller, into: &context, using: Extract())
        let call = tracer.startSpan("square call", context: context, ofKind: .server)
        call.attributes = [
            "aloft.function": "square", "aloft.app": "bench", "aloft.workspace": "", "aloft.call_kind": "remote",
        ]
        let wait = tracer.startSpan("queue wait", context: call.context)
        wait.attributes = ["aloft.attempt": 1]
        wait.end()
        let run = tracer.startSpan("run", context: call.context, ofKind: .consumer)
        run.attributes = ["aloft.attempt": 1, "aloft.container_id": "ctr-0123456789abcdef", "aloft.host": "local"]
        var headers: [String: String] = [:]
        tracer.inject(run.context, into: &headers, using: Inject())
        run.setStatus(SpanStatus(code: .ok))
        run.end()
        call.setStatus(SpanStatus(code: .ok))
        call.end()
        return headers.count
    }
    for (name, oneCall) in [("direct", direct), ("tracer-api", throughAPI)] {
        var sink = 0
        var tracer = AloftTracer(queue: SpanQueue(capacity: 1 << 18, batchSize: 1 << 18))
        for _ in 0..<10_000 { sink &+= oneCall(tracer) }
        let calls = 50_000
        var best = Double.infinity
        for _ in 0..<5 {
            tracer = AloftTracer(queue: SpanQueue(capacity: 1 << 18, batchSize: 1 << 18))
            let start = ContinuousClock.now
            for _ in 0..<calls { sink &+= oneCall(tracer) }
            let elapsed = ContinuousClock.now - start
            best = min(best, Double(elapsed.components.attoseconds) / 1e9 + Double(elapsed.components.seconds) * 1e9)
        }
        report(
            "spans-per-call",
            [("path", name), ("ns", String(format: "%.0f", best / Double(calls))), ("check", "\(sink > 0)")])
    }
    // What the dispatch's `traceparent` adds on the wire: an input's dispatch encoded and decoded with it, less
    // without it (the control plane encodes it, the container decodes it), in its own field (what the control plane
    // sends for AloftTracer) and as a `trace_context` map entry (other tracers).
    enum Carried { case none, field, map }
    func wire(_ carried: Carried) throws -> Double {
        var dispatch = Aloft_V1_InputDispatch()
        dispatch.inputID = 42
        dispatch.functionName = "square"
        dispatch.data = Data("7".utf8)
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        switch carried {
        case .none: break
        case .field: dispatch.traceparent = traceparent
        case .map: dispatch.traceContext = ["traceparent": traceparent]
        }
        var best = Double.infinity
        for _ in 0..<5 {
            let start = ContinuousClock.now
            for _ in 0..<50_000 {
                let bytes: [UInt8] = try dispatch.serializedBytes()
                let decoded = try Aloft_V1_InputDispatch(serializedBytes: bytes)
                if decoded.inputID != 42 { fatalError("decoding") }
            }
            let elapsed = ContinuousClock.now - start
            best = min(best, Double(elapsed.components.attoseconds) / 1e9 + Double(elapsed.components.seconds) * 1e9)
        }
        return best / 50_000
    }
    // What the exporter spends per span (off the call path, but on the same cores): a batch of 512 of a
    // `.remote`'s spans encoded.
    let tracer = AloftTracer(queue: SpanQueue(capacity: 1 << 12, batchSize: 1 << 12))
    for index in 0..<171 { _ = direct(tracer) + index }
    let batch = OTLPBatch(spans: tracer.queue.take().spans, resource: [("service.name", "aloft-bench")])
    for (name, encode) in [("protobuf", batch.protobuf), ("json", batch.json)] {
        var best = Double.infinity
        var bytes = 0
        for _ in 0..<20 {
            let start = ContinuousClock.now
            bytes = encode().count
            let elapsed = ContinuousClock.now - start
            best = min(best, Double(elapsed.components.attoseconds) / 1e9 + Double(elapsed.components.seconds) * 1e9)
        }
        report(
            "spans-encode",
            [
                ("encoding", name), ("ns_per_span", String(format: "%.0f", best / Double(batch.spans.count))),
                ("bytes_per_span", "\(bytes / batch.spans.count)"),
            ])
    }
    do {
        let (none, field, map) = (try wire(.none), try wire(.field), try wire(.map))
        report(
            "spans-wire",
            [
                ("traceparent_field_ns", String(format: "%.0f", field - none)),
                ("traceparent_map_ns", String(format: "%.0f", map - none)),
            ])
    } catch {
        print("spans-wire: \(error)")
    }
}

/// `ALOFT_BENCH_TRACING=otlp OTEL_BSP_MAX_EXPORT_BATCH_SIZE=150 aloft-bench -- w1traced`: W1 with every call's trace
/// recorded and exported against W1 with every call's trace sampled out, interleaved in bursts of 200 in one process
/// (the two see the same machine): the caller's current context is a `traceparent` whose sampled flag the burst
/// sets, and the control plane's parent-based sampler follows it. What the difference holds: recording, queueing and
/// exporting three spans per call (with batches of 150 spans, an export runs every 50 recorded calls, so three of a
/// burst's four run inside it and the last spills into the next burst); not the ids and `traceparent`s, made either
/// way (`spans` measures those).
func w1Traced() async throws {
    guard let tracer = InstrumentationSystem.tracer as? AloftTracer else {
        print("w1traced: needs ALOFT_BENCH_TRACING=otlp")
        return
    }
    var recorded: [Double] = []
    var sampledOut: [Double] = []
    for i in 0..<100 { _ = try await square.remote(i) }
    for burst in 0..<20 {
        var identity = tracer.identity(childOf: nil)
        identity.sampled = burst % 2 == 0
        var context = ServiceContext.topLevel
        context.aloftSpan = identity
        try await ServiceContext.withValue(context) {
            for i in 0..<200 {
                let start = clock.now
                _ = try await square.remote(i)
                let elapsed = microseconds(clock.now - start)
                if identity.sampled { recorded.append(elapsed) } else { sampledOut.append(elapsed) }
            }
        }
    }
    recorded.sort()
    sampledOut.sort()
    let p50 = (percentile(recorded, 0.5), percentile(sampledOut, 0.5))
    report(
        "W1-traced-interleaved",
        [
            ("recorded_p50_us", String(format: "%.1f", p50.0)), ("sampled_out_p50_us", String(format: "%.1f", p50.1)),
            ("difference_us", String(format: "%.1f", p50.0 - p50.1)),
            ("recorded_p99_us", String(format: "%.1f", percentile(recorded, 0.99))),
            ("sampled_out_p99_us", String(format: "%.1f", percentile(sampledOut, 0.99))),
        ])
}
