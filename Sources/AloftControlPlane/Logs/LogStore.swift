import AloftCore
import Foundation
import NIOCore
import Synchronization

/// Where a control plane keeps the lines its containers print (``LogLine``), within a retention of age and size.
///
/// Calls block (a file store reads and writes files): the control plane makes them from a thread pool, one
/// `append` at a time, in sequence order. Implementations: ``InMemoryLogStore`` (the embedded default) and
/// ``FileLogStore`` (`aloft server`, in its data directory). Both pass one conformance suite.
public protocol LogStore: Sendable {
    /// The sequence of the newest line kept (0 when there is none): the next line gets a higher one.
    func lastSequence() throws -> UInt64
    /// Keeps `lines` (in sequence order, each above every line kept before), dropping the oldest past retention.
    func append(_ lines: [LogLine]) throws
    /// The lines `query` selects, in sequence order.
    func lines(matching query: LogQuery) throws -> [LogLine]
    /// Keeps, across restarts, that sequences up to `sequence` may have been handed out: `lastSequence()` is never
    /// below it after. A store that does not outlive its process need not keep it.
    func reserve(through sequence: UInt64) throws
}

extension LogStore {
    public func reserve(through sequence: UInt64) throws {}
}

/// How long and how much a log store keeps: lines older than `maxAge` go, and the oldest go while the whole is
/// over `maxBytes`.
public struct LogRetention: Sendable, Hashable {
    public var maxAge: Duration
    public var maxBytes: Int

    public init(maxAge: Duration = .seconds(7 * 86_400), maxBytes: Int = 512 << 20) {
        self.maxAge = maxAge
        self.maxBytes = maxBytes
    }
}

/// Lines in memory, the newest within `retention` (tests, the embedded default: they end with the process).
public final class InMemoryLogStore: LogStore {
    private struct Kept {
        var lines = CircularBuffer<LogLine>()
        var bytes = 0
        var last: UInt64 = 0
    }

    private let kept = Mutex(Kept())
    public let retention: LogRetention

    public init(retention: LogRetention = LogRetention(maxBytes: 8 << 20)) {
        self.retention = retention
    }

    public func lastSequence() -> UInt64 { kept.withLock { $0.last } }

    public func append(_ lines: [LogLine]) {
        let oldest = Date().addingTimeInterval(-retention.maxAge.seconds)
        kept.withLock { kept in
            for line in lines {
                kept.lines.append(line)
                kept.bytes += line.bytes
                kept.last = line.sequence
            }
            while let first = kept.lines.first, kept.bytes > retention.maxBytes || first.time < oldest {
                kept.bytes -= first.bytes
                kept.lines.removeFirst()
            }
        }
    }

    public func lines(matching query: LogQuery) -> [LogLine] {
        kept.withLock { query.select(from: $0.lines) }
    }
}
