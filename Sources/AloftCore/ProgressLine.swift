#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One line of progress on standard error, redrawn in place: a big map's, an upload's. Shown only when standard
/// error is a terminal and `ALOFT_PROGRESS` is not `0`; redrawn at most ten times a second; ended with a newline.
package final class ProgressLine {
    private let started = ContinuousClock.now
    private var lastDrawn: ContinuousClock.Instant?
    private var shown = false

    /// Nil where no line would be shown (not a terminal, or `ALOFT_PROGRESS=0`).
    package init?(environment: [String: String]) {
        let setting = environment[AloftEnvironment.progress]
        guard setting != "0", setting != "false", isatty(2) == 1 else { return nil }
    }

    /// Seconds since the line was made.
    package var elapsed: Double { max((ContinuousClock.now - started) / .seconds(1), 0.001) }

    /// Whether a redraw is due: the first waits `firstAfter` (so that a rate is not a start-up's), then ten a second.
    package func isDue(firstAfter: Duration = .milliseconds(250)) -> Bool {
        let now = ContinuousClock.now
        guard now - (lastDrawn ?? started) >= (lastDrawn == nil ? firstAfter : .milliseconds(100)) else { return false }
        lastDrawn = now
        return true
    }

    /// Replaces the line with `text`.
    package func draw(_ text: String) {
        StandardStream.error.write("\r\u{1B}[K" + text)
        shown = true
    }

    /// Leaves the line as it is, with a newline after it (nothing if it was never drawn).
    package func end() {
        guard shown else { return }
        StandardStream.error.write("\n")
        shown = false
    }

    /// `1234`, `12.5`: a rate as people read it.
    package static func rate(_ value: Double) -> String {
        value >= 100 ? String(Int(value.rounded())) : String(Int(value * 10) / 10) + "." + String(Int(value * 10) % 10)
    }

    /// `45s`, `3m20s`, `2h5m`: time left.
    package static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        return whole >= 3600
            ? "\(whole / 3600)h\(whole % 3600 / 60)m" : whole >= 60 ? "\(whole / 60)m\(whole % 60)s" : "\(whole)s"
    }
}
