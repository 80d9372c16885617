import AloftCore
import AloftWire
import Foundation
import InMemoryTracing
import NIOCore
import Testing
import Tracing

@testable import AloftControlPlane

@Suite("Spans of calls in the scheduler")
struct CallTracingTests {
    /// A scheduler recording its spans in memory, and a client that said hello.
    private func tracedHarness() throws -> (InMemoryTracer, Harness, Peer) {
        let tracer = InMemoryTracer(recordInjections: false, recordExtractions: false)
        let harness = Harness { $0.tracer = tracer }
        return (tracer, harness, try harness.client())
    }

    @Test(
        "a call continues its caller's trace; its attempts' queue waits and runs, a retry and a cold start are its children; the dispatch carries the run's context"
    )
    func structure() throws {
        let (tracer, harness, client) = try tracedHarness()
        let (_, first, second, _) = try harness.invokeRetriedOnce(
            on: client, callID: "fc-traced",
            traceContext: [InMemoryTracer.traceIDKey: "caller-trace", InMemoryTracer.spanIDKey: "caller-span"])

        harness.advance(by: .milliseconds(50))  // ended spans reach the tracer in batches
        let spans = tracer.finishedSpans
        let call = try #require(spans.first { $0.operationName == "f call" })
        #expect(call.traceID == "caller-trace" && call.parentSpanID == "caller-span")
        #expect(call.kind == .server && call.status?.code == .ok)
        func children(_ name: String) -> [FinishedInMemorySpan] {
            spans.filter { $0.operationName == name && $0.parentSpanID == call.spanID && $0.traceID == "caller-trace" }
        }
        #expect(children("container start").count == 1)
        #expect(children("queue wait").count == 2)
        let run = try #require(children("run").first)
        let retry = try #require(children("retry").first)
        #expect(run.status?.code == .error && retry.status?.code == .ok)
        // Each dispatch carries its run's context: the body's own calls continue it.
        #expect(first.traceContext[InMemoryTracer.spanIDKey] == run.spanID)
        #expect(second.traceContext[InMemoryTracer.spanIDKey] == retry.spanID)
        #expect(first.traceContext[InMemoryTracer.traceIDKey] == "caller-trace")
        #expect(tracer.activeSpans.isEmpty)
    }

    @Test("a container that dies ends the runs it had, those it was only sent too; every span ends")
    func containerLost() throws {
        let (tracer, harness, client) = try tracedHarness()
        // One container at most: the second input is sent to it ahead (prefetched) while the first runs.
        let id = try harness.register("f", options: FunctionOptions(maxContainers: 1), on: client)
        try client.invoke(id, "a", requestID: 10)
        try client.invoke(id, "b", requestID: 11)
        let first = try harness.connectContainer(0)
        #expect(try first.dispatched().count == 2)
        harness.exit(0, status: 9 + 128)  // killed: the running input runs again, the queued one waits again
        harness.advance(by: .seconds(5))  // a connected container's end is taken once its connection is gone too
        let second = try harness.connectContainer(1)
        // "b" first (it went back to the front); "a", which was running when its container died, runs alone after.
        var answered = 0
        for _ in 0..<10 where answered < 2 {
            for input in try second.dispatched() {
                try second.answer(input.inputID, .success(Array("ok".utf8)))
                answered += 1
            }
        }
        #expect(answered == 2)
        #expect(try client.received().filter { if case .invokeResult = $0.body { true } else { false } }.count == 2)
        harness.advance(by: .milliseconds(50))
        #expect(tracer.activeSpans.isEmpty, "\(tracer.activeSpans.map(\.operationName))")
        // "a" ran, was lost and ran again (a second attempt: "retry"); "b" was sent, came back, and ran.
        let runs = tracer.finishedSpans.filter { $0.operationName == "run" }
        #expect(runs.count == 3 && runs.filter { $0.status?.code == .error }.count == 2, "\(runs.map(\.status))")
        #expect(tracer.finishedSpans.filter { $0.operationName == "retry" && $0.status?.code == .ok }.count == 1)
        #expect(tracer.finishedSpans.filter { $0.operationName == "queue wait" }.count == 4)
    }

    @Test("a map's call span ends with its last input; only its first inputs get spans of their own")
    func mapCall() throws {
        let (tracer, harness, client) = try tracedHarness()
        let id = try harness.register("f", options: FunctionOptions(maxInputs: 1_000), on: client)
        let count = Int(CallTracing.tracedInputsPerCall) + 20
        try client.create(id, kind: .map, callID: "fc-mapped", inputs: Array(repeating: Data("x".utf8), count: count))
        let container = try harness.connectContainer(0)
        var answered = 0
        while answered < count {
            let dispatched = try container.dispatched()
            try #require(!dispatched.isEmpty)
            for input in dispatched { try container.answer(input.inputID, .success(Array("ok".utf8))) }
            answered += dispatched.count
        }
        _ = try client.received()
        harness.advance(by: .milliseconds(50))  // ended spans reach the tracer in batches
        let spans = tracer.finishedSpans
        let call = try #require(spans.first { $0.operationName == "f call" })
        #expect(call.parentSpanID == nil && call.attributes["aloft.inputs"]?.toSpanAttribute() == .int64(Int64(count)))
        #expect(spans.filter { $0.operationName == "run" }.count == Int(CallTracing.tracedInputsPerCall))
        #expect(spans.allSatisfy { $0.operationName == "f call" || $0.parentSpanID == call.spanID })
        #expect(tracer.activeSpans.isEmpty)
    }

    @Test(
        "a map whose caller leaves after every input it sent was answered, before it sent its last, ends: out of the table, its span ended"
    )
    func mapLeftBeforeLast() throws {
        let (tracer, harness, client) = try tracedHarness()
        let id = try harness.register("f", on: client)
        // Not its last input: more would follow.
        try client.create(id, kind: .map, callID: "fc-left", inputs: [Data("x".utf8)], last: false)
        let container = try harness.connectContainer(0)
        let dispatched = try #require(try container.dispatched().first)
        try container.answer(dispatched.inputID, .success(Array("ok".utf8)))
        _ = try client.received()
        #expect(harness.scheduler.calls["fc-left"] != nil, "the map waits for more inputs")
        try client.close()
        #expect(harness.scheduler.calls["fc-left"] == nil)
        harness.advance(by: .milliseconds(50))
        #expect(tracer.activeSpans.isEmpty)
        #expect(tracer.finishedSpans.contains { $0.operationName == "f call" })
    }

    @Test("without a tracer nothing is recorded and a dispatch carries no context")
    func off() throws {
        let harness = Harness()
        #expect(harness.scheduler.tracing == nil)
        let client = try harness.client()
        let id = try harness.register("f", on: client)
        var invoke = Aloft_V1_FunctionInvoke()
        invoke.functionID = id
        invoke.traceContext = ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]
        try client.send(.functionInvoke(invoke), requestID: 10)
        let container = try harness.connectContainer(0)
        let dispatched = try #require(try container.dispatched().first)
        #expect(dispatched.traceContext.isEmpty)
    }
}

extension Harness {
    /// A `.remote` of a new function `f` with one retry, carrying `traceContext`, on a container that connects for
    /// it: the first attempt fails (a user error: retried), the second succeeds. Returns the function and both
    /// dispatches.
    func invokeRetriedOnce(
        on client: Peer, callID: String, traceContext: [String: String]
    ) throws -> (functionID: UInt64, first: Aloft_V1_InputDispatch, second: Aloft_V1_InputDispatch, container: Peer) {
        let id = try register(
            "f", options: FunctionOptions(retries: Retries(maxRetries: 1, initialDelay: .zero)), on: client)
        var invoke = Aloft_V1_FunctionInvoke()
        invoke.functionID = id
        invoke.data = Data("x".utf8)
        invoke.callID = callID
        invoke.traceContext = traceContext
        try client.send(.functionInvoke(invoke), requestID: 10)
        let container = try connectContainer(0)
        let first = try #require(try container.dispatched().first)
        try container.answer(first.inputID, .failure(.failure, AloftError(.remoteError, "once")))
        let second = try #require(try container.dispatched().first)
        try container.answer(second.inputID, .success(Array("ok".utf8)))
        #expect(try client.received().contains { if case .invokeResult = $0.body { true } else { false } })
        return (id, first, second, container)
    }
}
