import AloftCore
import AloftTracing
import AloftWire
import Foundation
import NIOCore
import Testing
import Tracing

@testable import AloftControlPlane

/// The scheduler's spans recorded directly for `AloftTracer` (what `aloft server --otlp-endpoint` uses): the same
/// structure as through swift-distributed-tracing's API, with W3C ids.
@Suite("Spans of calls recorded directly")
struct DirectTracingTests {
    @Test(
        "a call continues its caller's W3C trace; its attempts and cold start are its children; each dispatch carries the run's traceparent; a trace sampled out records nothing"
    )
    func structure() throws {
        let queue = SpanQueue(capacity: 1_000, batchSize: 1_000)
        let harness = Harness { $0.tracer = AloftTracer(queue: queue) }
        let client = try harness.client()
        let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let (functionID, first, second, container) = try harness.invokeRetriedOnce(
            on: client, callID: "fc-direct", traceContext: ["traceparent": caller])

        // Ended spans are queued at once: no batching timer to wait for.
        let spans = queue.take().spans
        let callerIdentity = try #require(SpanIdentity(traceparent: caller))
        let call = try #require(spans.first { $0.name == "f call" })
        #expect(call.identity.traceIDHex == "0af7651916cd43dd8448eb211c80319c")
        #expect(call.parentSpanID == callerIdentity.spanID && call.kind == .server && call.status?.code == .ok)
        #expect(call.attributes.contains { $0.0 == "aloft.call_id" && $0.1 == .string("fc-direct") })
        func children(_ name: String) -> [FinishedSpan] {
            spans.filter { $0.name == name && $0.parentSpanID == call.identity.spanID }
        }
        #expect(children("container start").count == 1)
        #expect(children("queue wait").count == 2)
        let run = try #require(children("run").first)
        let retry = try #require(children("retry").first)
        #expect(run.status?.code == .error && retry.status?.code == .ok && run.kind == .consumer)
        #expect(run.start <= run.end && call.start <= run.start && retry.end <= call.end)
        #expect(Set(spans.map(\.identity.spanID)).count == spans.count)
        // Each dispatch carries its run's context, in its own field.
        #expect(first.traceparent == run.identity.traceparent)
        #expect(second.traceparent == retry.identity.traceparent)

        // A caller whose trace is not sampled: nothing is recorded, and the dispatch says "not sampled".
        var invoke = Aloft_V1_FunctionInvoke()
        invoke.functionID = functionID
        invoke.data = Data("x".utf8)
        invoke.callID = "fc-unsampled"
        invoke.traceContext = ["traceparent": "00-0af7651916cd43dd8448eb211c80319d-b7ad6b7169203331-00"]
        try client.send(.functionInvoke(invoke), requestID: 11)
        let third = try #require(try container.dispatched().first)
        #expect(third.traceContext.isEmpty)
        let forwarded = try #require(SpanIdentity(traceparent: third.traceparent))
        #expect(!forwarded.sampled && forwarded.traceIDHex == "0af7651916cd43dd8448eb211c80319d")
        try container.answer(third.inputID, .success(Array("ok".utf8)))
        #expect(try client.received().contains { if case .invokeResult = $0.body { true } else { false } })
        #expect(queue.take().spans.isEmpty)
    }
}
