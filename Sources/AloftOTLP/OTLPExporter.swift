public import AloftTracing
import AsyncHTTPClient
public import Logging
import NIOCore
import NIOHTTP1
public import ServiceLifecycle
import Synchronization

/// Exports `AloftTracer`'s ended spans over OTLP/HTTP: a batch when `batchSize` spans wait or `scheduleDelay` has
/// passed, whichever comes first, and everything left at graceful shutdown. A collector that fails or is down costs
/// that batch (logged once a minute at most), never memory: the queue is bounded.
public final class OTLPExporter: Service {
    public let configuration: OTLPConfiguration
    /// The tracer whose spans this exports; bootstrap it (`InstrumentationSystem.bootstrap`) or hand it to a control
    /// plane.
    public let tracer: AloftTracer
    private let queue: SpanQueue
    private let logger: Logger
    private let client: HTTPClient

    public init(configuration: OTLPConfiguration, logger: Logger = Logger(label: "aloft.tracing")) {
        self.configuration = configuration
        self.logger = logger
        queue = SpanQueue(capacity: configuration.queueSize, batchSize: configuration.batchSize)
        tracer = AloftTracer(queue: queue, sampler: configuration.sampler)
        var http = HTTPClient.Configuration()
        http.tracing.tracer = nil  // its own requests are not traced (they would feed themselves)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { [queue, configuration] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: configuration.scheduleDelay)
                        queue.signal()
                    }
                }
                for await _ in queue.wakes { await exportWaiting() }
                group.cancelAll()
            }
        } onGracefulShutdown: { [queue] in
            queue.finish()
        }
        // What is left, once: a collector that fails now is not waited on batch after batch.
        await exportWaiting(stopAtFailure: true)
        try? await client.shutdown()
    }

    private let lastWarning = Mutex<ContinuousClock.Instant?>(nil)

    /// Exports what waits, a batch at a time (at shutdown, until a batch fails).
    private func exportWaiting(stopAtFailure: Bool = false) async {
        while true {
            let (spans, dropped) = queue.take()
            if dropped > 0 {
                logger.warning(
                    "spans dropped: the export queue was full", metadata: ["aloft.dropped": "\(dropped)"])
            }
            guard !spans.isEmpty else { return }
            if await !export(spans), stopAtFailure { return }
        }
    }

    /// Whether the collector took them.
    private func export(_ spans: [FinishedSpan]) async -> Bool {
        let batch = OTLPBatch(spans: spans, resource: configuration.resource)
        var request = HTTPClientRequest(url: configuration.endpoint)
        request.method = .POST
        let body: [UInt8]
        switch configuration.encoding {
        case .protobuf:
            body = batch.protobuf()
            request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        case .json:
            body = batch.json()
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        for header in configuration.headers { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(
                request, timeout: .nanoseconds(Int64(configuration.timeout / .nanoseconds(1))))
            _ = try await response.body.collect(upTo: 1 << 20)
            guard (200..<300).contains(response.status.code) else {
                warn("the collector refused spans", ["aloft.status": "\(response.status.code)"], count: spans.count)
                return false
            }
            return true
        } catch {
            warn("could not export spans", ["aloft.error": "\(error)"], count: spans.count)
            return false
        }
    }

    /// At most one warning a minute: a collector that is down would otherwise fill the log.
    private func warn(_ message: Logger.Message, _ metadata: Logger.Metadata, count: Int) {
        let now = ContinuousClock.now
        let quiet = lastWarning.withLock { last -> Bool in
            if let last, now - last < .seconds(60) { return true }
            last = now
            return false
        }
        if quiet { return }
        var metadata = metadata
        metadata["aloft.spans"] = "\(count)"
        metadata["aloft.otlp_endpoint"] = "\(configuration.endpoint)"
        logger.warning(message, metadata: metadata)
    }
}
