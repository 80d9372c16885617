#if canImport(Glibc)
@preconcurrency import Glibc
#endif
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
    private let started = ContinuousClock.now
    private var lastDrawn: ContinuousClock.Instant?
    private var shown = false

    /// Nil where no line would ever be shown.
    init?(label: String, knownCount: Int) {
        let setting = ProcessInfo.processInfo.environment[AloftEnvironment.progress]
        guard setting != "0", setting != "false", isatty(2) == 1 else { return nil }
        self.label = label
        self.total = knownCount > 0 ? knownCount : nil
    }

    /// All inputs were taken from the sequence: there are `count`.
    func allSent(_ count: Int) { total = count }

    /// One result was taken.
    func taken(failed: Bool) {
        done += 1
        if failed { self.failed += 1 }
        guard (total ?? done) >= Self.threshold else { return }
        let now = ContinuousClock.now
        // The first line waits a moment, so that its rate is not the cold start's.
        if done != total, now - (lastDrawn ?? started) < .milliseconds(lastDrawn == nil ? 250 : 100) { return }
        lastDrawn = now
        draw(now)
    }

    /// The map ended (or was abandoned): the line stays, with a newline after it.
    func end() {
        guard shown else { return }
        draw(.now)
        StandardStream.error.write("\n")
        shown = false
    }

    private func draw(_ now: ContinuousClock.Instant) {
        let seconds = max((now - started) / .seconds(1), 0.001)
        let rate = Double(done) / seconds
        var line = "\(label): \(done)"
        if let total { line += "/\(total)" }
        line += " done"
        if failed > 0 { line += ", \(failed) failed" }
        line += ", \(Self.format(rate))/s"
        if let total, done < total, rate > 0 { line += ", \(Self.duration(Double(total - done) / rate)) left" }
        StandardStream.error.write("\r\u{1B}[K" + line)
        shown = true
    }

    private static func format(_ rate: Double) -> String {
        rate >= 100 ? String(Int(rate.rounded())) : String(format: "%.1f", rate)
    }

    private static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        return whole >= 3600
            ? "\(whole / 3600)h\(whole % 3600 / 60)m" : whole >= 60 ? "\(whole / 60)m\(whole % 60)s" : "\(whole)s"
    }
}
