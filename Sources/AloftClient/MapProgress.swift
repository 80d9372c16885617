import AloftCore
import Foundation

/// The progress line of a big map on standard error, as Modal shows one: done of total, failures, rate and time
/// left, redrawn at most ten times a second, ended with a newline when the map ends. Shown only when standard error
/// is a terminal, once the map is big (at least `threshold` inputs, known or taken so far), and not with
/// `ALOFT_PROGRESS=0`. Used by the one task that iterates the map.
final class MapProgress {
    static let threshold = 200

    private let label: String
    /// The inputs' count when the sequence knows it up front (an array, a range), else nil until all are sent.
    private var total: Int?
    private var done = 0
    private var failed = 0
    private let line: ProgressLine

    /// Nil where no line would ever be shown.
    init?(label: String, knownCount: Int) {
        guard let line = ProgressLine(environment: ProcessInfo.processInfo.environment) else { return nil }
        self.line = line
        self.label = label
        self.total = knownCount > 0 ? knownCount : nil
    }

    /// All inputs were taken from the sequence: there are `count`.
    func allSent(_ count: Int) { total = count }

    /// One result was taken.
    func taken(failed: Bool) {
        done += 1
        if failed { self.failed += 1 }
        guard (total ?? done) >= Self.threshold, done == total || line.isDue() else { return }
        draw()
    }

    /// The map ended (or was abandoned): the line stays, with a newline after it.
    func end() {
        draw()
        line.end()
    }

    private func draw() {
        guard (total ?? done) >= Self.threshold else { return }
        let rate = Double(done) / line.elapsed
        var text = "\(label): \(done)"
        if let total { text += "/\(total)" }
        text += " done"
        if failed > 0 { text += ", \(failed) failed" }
        text += ", \(ProgressLine.rate(rate))/s"
        if let total, done < total, rate > 0 { text += ", \(ProgressLine.duration(Double(total - done) / rate)) left" }
        line.draw(text)
    }
}
