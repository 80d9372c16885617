public import Instrumentation
import Synchronization
public import Tracing

/// A span of `AloftTracer`. Its state is behind one lock (a span is `Sendable`; the control plane uses each from
/// one thread, so the lock is never contended). A span sampled out records nothing but still carries its context.
public final class RecordedSpan: Span {
    public let context: ServiceContext
    private let queue: SpanQueue?
    private let state: Mutex<FinishedSpan?>

    init(
        name: String, kind: SpanKind, identity: SpanIdentity, parentSpanID: UInt64, start: UInt64,
        context: ServiceContext, queue: SpanQueue?
    ) {
        self.context = context
        self.queue = queue
        self.state = Mutex(
            queue == nil
                ? nil
                : FinishedSpan(
                    name: name, kind: kind, identity: identity, parentSpanID: parentSpanID, start: start, end: start))
    }

    public var isRecording: Bool { state.withLock { $0 != nil } }

    public var operationName: String {
        get { state.withLock { $0?.name ?? "" } }
        set { state.withLock { $0?.name = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0?.attributeSet ?? [:] } }
        set {
            let pairs = newValue.pairs
            state.withLock { $0?.attributes = pairs }
        }
    }

    public func setStatus(_ status: SpanStatus) {
        state.withLock { span in
            // OK is final; an error's message is the last one given.
            if span?.status?.code != .ok { span?.status = status }
        }
    }

    public func addEvent(_ event: SpanEvent) { state.withLock { $0?.events.append(event) } }

    public func recordError<Instant: TracerInstant>(
        _ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant
    ) {
        var attributes = attributes
        attributes["exception.type"] = "\(type(of: error))"
        attributes["exception.message"] = "\(error)"
        addEvent(SpanEvent(name: "exception", at: instant(), attributes: attributes))
    }

    public func addLink(_ link: SpanLink) {
        guard let identity = link.context.aloftSpan else { return }
        state.withLock { $0?.links.append(identity) }
    }

    /// Ends it (once; later ends do nothing) and queues it for export.
    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let ended = state.withLock { span -> FinishedSpan? in
            guard var finished = span else { return nil }
            span = nil
            finished.end = instant().nanosecondsSinceEpoch
            return finished
        }
        if let ended { queue?.append(ended) }
    }
}

/// An ended span, as exporters see it.
public struct FinishedSpan: Sendable {
    public var name: String
    public var kind: SpanKind
    public var identity: SpanIdentity
    /// 0: a root span.
    public var parentSpanID: UInt64
    /// Nanoseconds since the Unix epoch.
    public var start: UInt64
    public var end: UInt64
    /// In the order they were set, keys unique (a list is cheaper to build than `SpanAttributes`' dictionary).
    public var attributes: [(String, SpanAttribute)] = []
    public var status: SpanStatus?
    public var events: [SpanEvent] = []
    public var links: [SpanIdentity] = []

    public init(
        name: String, kind: SpanKind, identity: SpanIdentity, parentSpanID: UInt64, start: UInt64, end: UInt64,
        attributes: [(String, SpanAttribute)] = [], status: SpanStatus? = nil
    ) {
        self.name = name
        self.kind = kind
        self.identity = identity
        self.parentSpanID = parentSpanID
        self.start = start
        self.end = end
        self.attributes = attributes
        self.status = status
    }

    var attributeSet: SpanAttributes {
        var set: SpanAttributes = [:]
        for (key, value) in attributes { set[key] = value }
        return set
    }
}

/// Ended spans waiting for export: at most `capacity` (later ones are dropped and counted, never buffered without
/// bound). An exporter takes them in batches; it is signalled when `batchSize` are waiting, not for each span.
public final class SpanQueue: Sendable {
    public let capacity: Int
    public let batchSize: Int
    private let state = Mutex<(spans: [FinishedSpan], dropped: Int)>(([], 0))
    private let wake: AsyncStream<Void>.Continuation
    /// Yields when a batch is full or a flush is asked for.
    public let wakes: AsyncStream<Void>

    public init(capacity: Int = 2048, batchSize: Int = 512) {
        self.capacity = max(1, capacity)
        self.batchSize = max(1, min(batchSize, capacity))
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues an ended span (dropped, and counted, when the queue is full).
    public func append(_ span: FinishedSpan) {
        let full = state.withLock { state -> Bool in
            guard state.spans.count < capacity else {
                state.dropped += 1
                return false
            }
            state.spans.append(span)
            return state.spans.count == batchSize
        }
        if full { wake.yield() }
    }

    /// Wakes the exporter (a flush).
    public func signal() { wake.yield() }

    /// Ends `wakes` (at shutdown).
    public func finish() { wake.finish() }

    /// Up to `batchSize` of the waiting spans, oldest first, and how many were dropped since the last take.
    public func take() -> (spans: [FinishedSpan], dropped: Int) {
        state.withLock { state in
            let count = min(batchSize, state.spans.count)
            let taken = Array(state.spans.prefix(count))
            state.spans.removeFirst(count)
            defer { state.dropped = 0 }
            return (taken, state.dropped)
        }
    }
}

extension SpanAttributes {
    /// Its keys and values, as a list.
    public var pairs: [(String, SpanAttribute)] {
        var pairs: [(String, SpanAttribute)] = []
        // swift-format-ignore: ReplaceForEachWithForLoop
        forEach { pairs.append(($0, $1)) }  // not a Sequence: `forEach` is how it lists them
        return pairs
    }
}
