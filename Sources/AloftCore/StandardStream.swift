#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Standard output or standard error, written without trapping: a long-lived process (the server, a worker host, a
/// container) whose terminal went away or whose output pipe's reader exited loses the text, not its life.
/// Foundation's `FileHandle.write(_:)` traps on `EPIPE`; this drops the write instead.
package enum StandardStream: Sendable {
    case output
    case error

    /// Writes `text` whole, retrying short writes and interruptions; any other failure drops the rest.
    package func write(_ text: String) {
        var bytes = Array(text.utf8)
        let descriptor: Int32 = self == .output ? 1 : 2
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    /// Makes a write to a pipe or socket whose reader is gone fail with `EPIPE` instead of killing the process with
    /// `SIGPIPE`; called once at the start of `aloft server` and `aloft worker`.
    package static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }
}

private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Darwin)
    Darwin.write(descriptor, bytes, count)
    #elseif canImport(Musl)
    Musl.write(descriptor, bytes, count)
    #else
    Glibc.write(descriptor, bytes, count)
    #endif
}
