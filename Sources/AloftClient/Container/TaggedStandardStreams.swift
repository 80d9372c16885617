#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import AloftCore
import CAloftStdio
import Synchronization

/// The input whose body runs on this thread or task, alone in its slot (not part of a batch).
enum RunningInput {
    @TaskLocal static var id: UInt64?
}

/// A container's C `stdout` and `stderr` (what `print`, `fputs` and swift-log's stream handler write to), replaced
/// with streams that write to the same descriptors and start each line a body prints with the `OutputTag` of its
/// input, so that the control plane keeps the line with its call. Lines printed outside a body, or written to the
/// descriptors directly (`FileHandle.standardError`), go untagged, and the control plane attributes them to the
/// input running in the container if there is exactly one. Writing costs what it did: one `write` per line.
enum TaggedStandardStreams {
    static func install() {
        fflush(nil)  // what the old streams hold goes out first
        for (descriptor, buffering) in [(Int32(1), _IOLBF), (2, _IONBF)] {
            let target = Unmanaged.passRetained(TaggedDescriptor(descriptor)).toOpaque()
            let file = aloft_open_write_stream(
                target,
                { cookie, bytes, count in
                    guard let cookie, let bytes else { return 0 }
                    return Unmanaged<TaggedDescriptor>.fromOpaque(cookie).takeUnretainedValue().write(
                        UnsafeRawBufferPointer(start: bytes, count: count))
                }, Int32(buffering))
            guard let file else { continue }  // no fopencookie: lines go untagged
            aloft_set_standard_stream(descriptor, file)
        }
    }
}

/// One descriptor that tagged lines are written to; the stream's own lock serialises writes.
private final class TaggedDescriptor: @unchecked Sendable {
    let descriptor: Int32
    /// Whether the last byte written ended a line (the next one starts a line, and takes a tag).
    private var atLineStart = true

    init(_ descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// The bytes taken, or 0 when the descriptor failed (a cookie's write must not return a negative count: glibc
    /// reads it unsigned).
    func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let id = RunningInput.id else {
            atLineStart = bytes.last.map { $0 == UInt8(ascii: "\n") } ?? atLineStart
            return writeAll(bytes) ? bytes.count : 0
        }
        let tag = OutputTag.tag(id)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + tag.count)
        for byte in bytes {
            if atLineStart { out.append(contentsOf: tag) }
            out.append(byte)
            atLineStart = byte == UInt8(ascii: "\n")
        }
        return out.withUnsafeBytes { writeAll($0) } ? bytes.count : 0
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            #if canImport(Glibc)
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            #else
            let written = -1
            #endif
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }
}
