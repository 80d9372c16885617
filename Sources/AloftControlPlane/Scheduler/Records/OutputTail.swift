import AloftCore
import Foundation
import Synchronization

/// The last lines a container printed (stdout and stderr together), kept for the error of an input it crashed
/// on: at most `capacity` lines of at most `lineLimit` bytes each, and, when the Swift runtime's backtracer
/// reports a crash, the head of its report (the crash and the crashed thread's first frames, not its registers
/// and images).
///
/// Appended from the threads that read a local container's pipes, and on the loop for a worker host's
/// containers; read on the loop.
final class OutputTail: Sendable {
    static let capacity = 20
    static let lineLimit = 300
    static let reportLines = 12

    fileprivate struct Lines {
        var printed: [String] = []
        /// From the backtracer's report: its "Program crashed" line and the crashed thread's first frames.
        var report: [String] = []
        var reading = Report.none
    }

    /// Where the backtracer's report is, as its lines arrive.
    fileprivate enum Report {
        case none
        /// Past its first line (`*** Signal 4: Backtracing …`), before the crashed thread's frames.
        case header
        /// In the crashed thread's frames (`Thread 3 "name" crashed:`).
        case crashedThread
        /// Past them: nothing more is kept.
        case done
    }

    private let lines = Mutex(Lines())
    /// What each line starts with as the runtime forwards it (`ContainerSpec.outputPrefix`): not kept.
    private let linePrefix: String

    init(linePrefix: String) {
        self.linePrefix = linePrefix
    }

    /// Appends the complete lines in `data` (a runtime hands output over line by line).
    func append(_ data: Data) {
        let new = String(decoding: OutputTag.stripped(Array(data), prefixLength: linePrefix.utf8.count), as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: true)
            .map { $0.hasPrefix(linePrefix) ? $0.dropFirst(linePrefix.count) : $0 }
            .filter { !$0.allSatisfy(\.isWhitespace) }
            .map { $0.utf8.count > Self.lineLimit ? String($0.prefix(Self.lineLimit)) + "…" : String($0) }
        guard !new.isEmpty else { return }
        lines.withLock { lines in
            for line in new { lines.take(line) }
            if lines.printed.count > Self.capacity { lines.printed.removeFirst(lines.printed.count - Self.capacity) }
        }
    }

    /// What it kept, in the order printed.
    var snapshot: [String] { lines.withLock { $0.printed + $0.report } }
}

extension OutputTail.Lines {
    fileprivate mutating func take(_ line: String) {
        switch reading {
        case .none:
            if line.hasPrefix("*** Signal "), line.contains("Backtracing") {
                reading = .header
            } else {
                printed.append(line)
            }
        case .header:
            if line.hasPrefix("*** Program crashed") {
                report.append(line)
            } else if line.hasPrefix("Thread "), line.hasSuffix("crashed:") {
                report.append(line)
                reading = .crashedThread
            }
        case .crashedThread:
            if line.hasPrefix("Thread ") || line.hasPrefix("Registers:") || report.count >= OutputTail.reportLines {
                reading = .done
            } else {
                report.append(line)
            }
        case .done:
            break
        }
    }
}
