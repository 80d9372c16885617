import AloftCore
import Foundation
import Synchronization

/// Lines in files of a directory (`aloft server`: `<data-dir>/logs`): segments of JSON lines, each named by the
/// sequence of its first line, a new one begun when the current one passes `segmentBytes`. Retention drops whole
/// segments: the oldest while the directory is over `retention.maxBytes`, and those whose newest line is older
/// than `retention.maxAge` (never the one being written). A line half-written when the process died is cut off at
/// the next start.
///
/// Reads scan the segments that can hold matching lines (by sequence, and by the time of their newest line), so a
/// query of recent lines reads only the newest files.
public final class FileLogStore: LogStore {
    private struct Segment {
        var first: UInt64
        var path: String
        var bytes: Int
        var newest: Date
    }

    private struct State {
        var segments: [Segment] = []
        var current: FileHandle?
        var last: UInt64 = 0
        /// Kept in `reserved` beside the segments (`reserve(through:)`).
        var reserved: UInt64 = 0
    }

    public let directory: String
    public let retention: LogRetention
    private let segmentBytes: Int
    private let state: Mutex<State>

    /// Opens (or creates) the store in `directory`.
    public init(directory: String, retention: LogRetention = LogRetention(), segmentBytes: Int? = nil) throws {
        self.directory = directory
        self.retention = retention
        self.segmentBytes = segmentBytes ?? max(64 << 10, min(16 << 20, retention.maxBytes / 16))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        state = Mutex(try Self.scan(directory))
    }

    public func lastSequence() -> UInt64 { state.withLock { max($0.last, $0.reserved) } }

    public func reserve(through sequence: UInt64) throws {
        let path = "\(directory)/reserved"
        try Data(String(sequence).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        state.withLock { $0.reserved = max($0.reserved, sequence) }
    }

    public func append(_ lines: [LogLine]) throws {
        guard let first = lines.first else { return }
        let encoder = Self.encoder()
        var data = Data()
        for line in lines {
            data.append(try encoder.encode(line))
            data.append(0x0A)
        }
        try state.withLock { state in
            if state.current == nil || (state.segments.last?.bytes ?? 0) >= segmentBytes {
                try state.current?.close()
                let path = "\(directory)/\(String(format: "%020llu", first.sequence)).jsonl"
                guard FileManager.default.createFile(atPath: path, contents: nil),
                    let handle = FileHandle(forWritingAtPath: path)
                else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
                state.current = handle
                state.segments.append(Segment(first: first.sequence, path: path, bytes: 0, newest: first.time))
            }
            try state.current?.write(contentsOf: data)
            state.segments[state.segments.count - 1].bytes += data.count
            state.segments[state.segments.count - 1].newest = lines[lines.count - 1].time
            state.last = lines[lines.count - 1].sequence
            dropPastRetention(&state)
        }
    }

    private func dropPastRetention(_ state: inout State) {
        var total = state.segments.reduce(0) { $0 + $1.bytes }
        let oldest = Date().addingTimeInterval(-retention.maxAge.seconds)
        while state.segments.count > 1, total > retention.maxBytes || state.segments[0].newest < oldest {
            let dropped = state.segments.removeFirst()
            total -= dropped.bytes
            try? FileManager.default.removeItem(atPath: dropped.path)
        }
    }

    public func lines(matching query: LogQuery) throws -> [LogLine] {
        let (segments, last) = state.withLock { ($0.segments, $0.last) }
        // The segments whose sequences and times can match, oldest first.
        var candidates: [Segment] = []
        for (index, segment) in segments.enumerated() {
            let end = index + 1 < segments.count ? segments[index + 1].first - 1 : last
            guard end > query.after, query.before.map({ segment.first < $0 }) ?? true,
                query.since.map({ segment.newest >= $0 }) ?? true
            else { continue }
            candidates.append(segment)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        let needle = try query.app.map { Data("\"app\":".utf8) + (try Self.encoder().encode($0)) }
        var picked: [LogLine] = []
        for segment in query.newest ? candidates.reversed() : candidates {
            // A segment dropped by retention since the snapshot has nothing to give.
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: segment.path)) else { continue }
            var lines: [LogLine] = []
            for raw in data.split(separator: 0x0A) where needle.map({ raw.range(of: $0) != nil }) ?? true {
                // A line being written as this reads it does not decode yet: the next read gets it.
                if let line = try? decoder.decode(LogLine.self, from: raw) { lines.append(line) }
            }
            var remaining = query
            remaining.limit = query.limit - picked.count
            let selected = remaining.select(from: lines)
            picked = query.newest ? selected + picked : picked + selected
            if picked.count >= query.limit { break }
        }
        return picked
    }

    private static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = .withoutEscapingSlashes
        return encoder
    }

    /// The segments in `directory`, the newest cut after its last whole line.
    private static func scan(_ directory: String) throws -> State {
        var state = State()
        state.reserved =
            (try? String(contentsOfFile: "\(directory)/reserved", encoding: .utf8)).flatMap {
                UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines))
            } ?? 0
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".jsonl") }
        for name in names.sorted() {
            guard let first = UInt64(name.dropLast(".jsonl".count)) else { continue }
            let path = "\(directory)/\(name)"
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            state.segments.append(
                Segment(
                    first: first, path: path, bytes: (attributes[.size] as? Int) ?? 0,
                    newest: (attributes[.modificationDate] as? Date) ?? Date()))
        }
        guard var newest = state.segments.last else { return state }
        let data = try Data(contentsOf: URL(fileURLWithPath: newest.path))
        let whole = data.lastIndex(of: 0x0A).map { data.index(after: $0) } ?? data.startIndex
        if whole < data.endIndex {
            let handle = try FileHandle(forWritingAtPath: newest.path).unwrap(newest.path)
            try handle.truncate(atOffset: UInt64(whole - data.startIndex))
            try handle.close()
            newest.bytes = whole - data.startIndex
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        // The newest line that decodes (one damaged by a full disk is passed over).
        let lastLine = data[..<whole].split(separator: 0x0A).reversed().lazy.compactMap {
            try? decoder.decode(LogLine.self, from: $0)
        }.first
        state.last = lastLine?.sequence ?? (newest.first > 0 ? newest.first - 1 : 0)
        if let lastLine { newest.newest = lastLine.time }
        state.segments[state.segments.count - 1] = newest
        if newest.bytes == 0 {
            // Begun, never written to: the next line begins it again.
            state.segments.removeLast()
            try? FileManager.default.removeItem(atPath: newest.path)
        }
        // The next line goes to a new segment: one begun by another process's life is left as it was.
        return state
    }
}

extension Optional where Wrapped == FileHandle {
    fileprivate func unwrap(_ path: String) throws -> FileHandle {
        guard let self else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        return self
    }
}
