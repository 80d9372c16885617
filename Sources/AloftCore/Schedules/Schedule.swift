public import Foundation

/// When a deployed function runs on its own: Modal's `schedule=modal.Period(...)` or `modal.Cron(...)`.
///
/// A scheduled function takes no arguments. Schedules run only for deployed apps (`aloft deploy`); each run is an
/// ordinary call with an id, a result, logs and the function's retries. The server stores the last tick it fired, so
/// a restart never repeats a tick, and by default does not back-fill the ticks it missed while it was down
/// (`catchingUp()` runs the latest missed one; docs/server.md "Schedules").
public struct Schedule: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Every period, counted from the deployment (a redeployment restarts the clock).
        case period(Period)
        /// When the cron expression says, read in the time zone (an IANA name).
        case cron(String, timeZone: String)
    }

    public var kind: Kind
    /// After a server restart, run once at once if ticks fell while it was down (Modal never back-fills).
    public var catchUp: Bool

    public init(_ kind: Kind, catchUp: Bool = false) {
        self.kind = kind
        self.catchUp = catchUp
    }

    /// Every `period`, counted from the deployment.
    public static func period(_ period: Period) -> Schedule { Schedule(.period(period)) }

    /// When the cron expression says (five fields, or an alias such as `@hourly`), read in `timeZone`.
    public static func cron(_ expression: String, timeZone: String = "UTC") -> Schedule {
        Schedule(.cron(expression, timeZone: timeZone))
    }

    /// This schedule, with a run at once after a restart that missed ticks.
    public func catchingUp() -> Schedule { Schedule(kind, catchUp: true) }

    public var description: String {
        let text =
            switch kind {
            case .period(let period): "\(period)"
            case .cron(let expression, let timeZone): "cron '\(expression)' (\(timeZone))"
            }
        return catchUp ? text + ", catching up" : text
    }

    /// Throws `invalidConfiguration` for a cron expression or time zone that cannot be read, or an empty period.
    public func validate() throws(AloftError) {
        switch kind {
        case .period(let period): try period.validate()
        case .cron(let expression, let timeZone): _ = try CronExpression(expression, timeZone: timeZone)
        }
    }

    /// The first tick strictly after `date`; a period counts from `anchor` (when the app was deployed).
    public func next(after date: Date, anchor: Date) throws(AloftError) -> Date {
        switch kind {
        case .period(let period): return try period.next(after: date, anchor: anchor)
        case .cron(let expression, let timeZone):
            return try CronExpression(expression, timeZone: timeZone).next(after: date)
        }
    }
}

/// A calendar interval: Modal's `Period(years=, months=, weeks=, days=, hours=, minutes=, seconds=)`.
///
/// Ticks are the deployment time plus whole multiples of the period, added as calendar units in UTC: a period of one
/// month from 31 January ticks on 28 (or 29) February, 31 March, 30 April, …; a day is always 24 hours.
public struct Period: Sendable, Hashable, CustomStringConvertible {
    public var years: Int
    public var months: Int
    public var weeks: Int
    public var days: Int
    public var hours: Int
    public var minutes: Int
    public var seconds: Double

    public init(
        years: Int = 0, months: Int = 0, weeks: Int = 0, days: Int = 0, hours: Int = 0, minutes: Int = 0,
        seconds: Double = 0
    ) {
        (self.years, self.months, self.weeks, self.days) = (years, months, weeks, days)
        (self.hours, self.minutes, self.seconds) = (hours, minutes, seconds)
    }

    public static func seconds(_ n: Double) -> Period { Period(seconds: n) }
    public static func minutes(_ n: Int) -> Period { Period(minutes: n) }
    public static func hours(_ n: Int) -> Period { Period(hours: n) }
    public static func days(_ n: Int) -> Period { Period(days: n) }
    public static func weeks(_ n: Int) -> Period { Period(weeks: n) }
    public static func months(_ n: Int) -> Period { Period(months: n) }
    public static func years(_ n: Int) -> Period { Period(years: n) }

    public var description: String {
        let parts: [(Double, String)] = [
            (Double(years), "y"), (Double(months), "mo"), (Double(weeks), "w"), (Double(days), "d"),
            (Double(hours), "h"), (Double(minutes), "min"), (seconds, "s"),
        ]
        let text = parts.filter { $0.0 != 0 }.map { value, unit in
            value == value.rounded() ? "\(Int(value))\(unit)" : "\(value)\(unit)"
        }
        return "every " + text.joined(separator: " ")
    }

    /// The fixed part of the period (weeks and smaller) in seconds.
    private var fixedSeconds: Double {
        Double(((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds
    }

    public func validate() throws(AloftError) {
        let fields = [years, months, weeks, days, hours, minutes]
        guard fields.allSatisfy({ $0 >= 0 }), seconds >= 0, seconds.isFinite else {
            throw AloftError(.invalidConfiguration, "a Period's fields must not be negative: \(self)")
        }
        guard years * 12 + months > 0 || fixedSeconds >= 1 else {
            throw AloftError(.invalidConfiguration, "a Period must be at least one second long, got \(self)")
        }
    }

    /// Tick `k`: `anchor` plus `k` periods.
    func tick(_ k: Int, from anchor: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var date = anchor
        if years != 0 || months != 0 {
            date = calendar.date(byAdding: .month, value: k * (years * 12 + months), to: anchor) ?? anchor
        }
        return date.addingTimeInterval(Double(k) * fixedSeconds)
    }

    func next(after date: Date, anchor: Date) throws(AloftError) -> Date {
        try validate()
        guard date >= anchor else { return tick(1, from: anchor) }
        // A first guess from the period's average length, then steps to the exact tick.
        let average = Double(years * 12 + months) * 2_629_746 + fixedSeconds
        var k = max(1, Int((date.timeIntervalSince(anchor) / average).rounded(.down)) - 1)
        while k > 1 && tick(k - 1, from: anchor) > date { k -= 1 }
        while tick(k, from: anchor) <= date { k += 1 }
        return tick(k, from: anchor)
    }
}
