public import Foundation

/// A five-field cron expression (`minute hour day-of-month month day-of-week`) read in a time zone: Modal's
/// `Cron(spec, timezone=)`.
///
/// Fields take `*`, numbers, ranges (`1-5`), steps (`*/15`, `10-50/20`, `5/15` — from 5 to the field's end), lists
/// (`1,15,30`), month names (`JAN`–`DEC`) and weekday names (`SUN`–`SAT`, and `0` or `7` for Sunday), in any case.
/// `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for their usual
/// expressions. As in Vixie cron, when both day fields are restricted a day matches either of them.
///
/// The times it fires are the instants whose wall-clock time in `timeZone` matches, so across daylight-saving
/// changes (the same rules as Python's `croniter`, which the tests check it against): a wall-clock time that happens
/// twice (the hour repeated in autumn) fires twice, and one that does not exist (the hour skipped in spring) fires
/// once, at the moment the clocks jump — unless the expression runs every hour, whose times after the jump stand for
/// the skipped ones (as Vixie cron treats wildcard-hour jobs).
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    public let expression: String
    public let timeZone: TimeZone
    private let minutes: UInt64  // bit n: minute n
    private let hours: UInt64
    private let days: UInt64  // bit n: day n of the month (1...31)
    private let months: UInt64  // bit n: month n (1...12)
    private let weekdays: UInt64  // bit n: weekday n (0 = Sunday ... 6)
    private let daysRestricted: Bool
    private let weekdaysRestricted: Bool

    /// Parses `expression` in the time zone named `timeZone` (an IANA name such as `Europe/Berlin`); throws
    /// `invalidConfiguration` saying what is wrong.
    public init(_ expression: String, timeZone: String = "UTC") throws(AloftError) {
        guard let zone = TimeZone(identifier: timeZone) else {
            throw AloftError(.invalidConfiguration, "unknown time zone '\(timeZone)' (use an IANA name: Europe/Berlin)")
        }
        self.expression = expression
        self.timeZone = zone
        let text = expression.trimmingCharacters(in: .whitespaces)
        let aliases = [
            "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
            "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
        ]
        let expanded = text.hasPrefix("@") ? aliases[text.lowercased()] : text
        guard let expanded else {
            throw AloftError(
                .invalidConfiguration,
                "unknown cron alias '\(text)' (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)"
            )
        }
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw AloftError(
                .invalidConfiguration,
                "cron expression '\(expression)' has \(fields.count) fields; it needs 5: minute hour day-of-month "
                    + "month day-of-week")
        }
        func field(_ index: Int, _ field: CronField) throws(AloftError) -> UInt64 {
            do {
                return try field.parse(fields[index])
            } catch {
                throw AloftError(
                    .invalidConfiguration,
                    "cron expression '\(expression)': \(field.name) '\(fields[index])': \(error.reason)")
            }
        }
        minutes = try field(0, .minute)
        hours = try field(1, .hour)
        days = try field(2, .dayOfMonth)
        months = try field(3, .month)
        let weekdayBits = try field(4, .dayOfWeek)
        weekdays = (weekdayBits & 0x7F) | (weekdayBits >> 7 & 1)  // 7 is Sunday too
        daysRestricted = !fields[2].hasPrefix("*")
        weekdaysRestricted = !fields[4].hasPrefix("*")
        // An expression such as "0 0 30 2 *" (30 February) would never fire: say so now rather than never.
        guard nextWallClock(after: WallClock(localSeconds: 0)) != nil else {
            throw AloftError(.invalidConfiguration, "cron expression '\(expression)' never fires")
        }
    }

    public var description: String { "\(expression) (\(timeZone.identifier))" }

    /// The first time it fires strictly after `date`.
    public func next(after date: Date) -> Date {
        let after = Int64(date.timeIntervalSince1970.rounded(.down))
        let start = WallClock(localSeconds: after + Int64(offset(at: after)) - 4 * 3600)
        // A wall-clock time's instants are within a few hours of each other; the earliest after `date` among the
        // candidates up to a few hours past the first is the answer.
        var best: Int64?
        var cursor = start
        var horizon: Int64?
        while let candidate = nextWallClock(after: cursor) {
            if let horizon, candidate.localSeconds > horizon { break }
            for instant in instants(of: candidate) where instant > after {
                best = min(best ?? instant, instant)
                if horizon == nil { horizon = candidate.localSeconds + 4 * 3600 }
            }
            cursor = candidate
        }
        return Date(timeIntervalSince1970: TimeInterval(best ?? Int64.max / 2))
    }

    // MARK: Wall-clock search

    private func matchesDay(_ clock: WallClock) -> Bool {
        let dayOK = days >> clock.day & 1 == 1
        let weekdayOK = weekdays >> clock.weekday & 1 == 1
        switch (daysRestricted, weekdaysRestricted) {
        case (true, true): return dayOK || weekdayOK
        case (true, false): return dayOK
        case (false, true): return weekdayOK
        case (false, false): return true
        }
    }

    /// The first matching wall-clock minute after `clock`, within 28 years (a full cycle of the calendar's weekdays
    /// and leap years); nil if there is none.
    private func nextWallClock(after clock: WallClock) -> WallClock? {
        var (year, month, day, hour, minute) = (clock.year, clock.month, clock.day, clock.hour, clock.minute + 1)
        let lastYear = year + 28
        while year <= lastYear {
            if minute > 59 { (minute, hour) = (0, hour + 1) }
            if hour > 23 { (hour, minute, day) = (0, 0, day + 1) }
            if day > WallClock.daysIn(year: year, month: month) { (day, hour, minute, month) = (1, 0, 0, month + 1) }
            if month > 12 { (month, day, hour, minute, year) = (1, 1, 0, 0, year + 1) }
            if year > lastYear { break }
            if months >> month & 1 == 0 {
                (month, day, hour, minute) = (month + 1, 1, 0, 0)
                continue
            }
            let candidate = WallClock(year: year, month: month, day: day, hour: hour, minute: minute)
            if !matchesDay(candidate) {
                (day, hour, minute) = (day + 1, 0, 0)
                continue
            }
            if hours >> hour & 1 == 0 {
                (hour, minute) = (hour + 1, 0)
                continue
            }
            if minutes >> minute & 1 == 0 {
                minute += 1
                continue
            }
            return candidate
        }
        return nil
    }

    // MARK: Time zone

    private func offset(at instant: Int64) -> Int {
        timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
    }

    /// The instants (seconds since 1970) whose wall-clock time is `clock`: one, two (a repeated hour), or, for a
    /// time the clocks skip, the moment they jump.
    private func instants(of clock: WallClock) -> [Int64] {
        let local = clock.localSeconds
        let before = offset(at: local - 86_400)
        let after = offset(at: local + 86_400)
        var found: [Int64] = []
        for candidate in [before, after] {
            let instant = local - Int64(candidate)
            if offset(at: instant) == candidate && !found.contains(instant) { found.append(instant) }
        }
        if !found.isEmpty { return found.sorted() }
        if hours == (1 << 24) - 1 { return [] }
        // Skipped: the jump lies between `local - after` (still before it) and `local - before` (already after).
        var (low, high) = (local - Int64(after), local - Int64(before))
        if low > high { swap(&low, &high) }
        while high - low > 1 {
            let middle = (low + high) / 2
            if offset(at: middle) == before { low = middle } else { high = middle }
        }
        return [high]
    }
}

/// A date and time of day to the minute, without a time zone (a "local" time, counted as if it were UTC).
struct WallClock: Hashable {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int

    init(year: Int, month: Int, day: Int, hour: Int, minute: Int) {
        (self.year, self.month, self.day, self.hour, self.minute) = (year, month, day, hour, minute)
    }

    /// The wall-clock minute that contains `localSeconds` (seconds since 1970-01-01 00:00 of the same clock).
    init(localSeconds: Int64) {
        let days = Int(localSeconds.floorDivided(by: 86_400))
        let seconds = Int(localSeconds - Int64(days) * 86_400)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        hour = seconds / 3600
        minute = seconds % 3600 / 60
    }

    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    var daysSinceEpoch: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    var localSeconds: Int64 { Int64(daysSinceEpoch) * 86_400 + Int64(hour * 3600 + minute * 60) }

    /// 0 = Sunday ... 6 = Saturday (1970-01-01 was a Thursday).
    var weekday: Int { (daysSinceEpoch % 7 + 11) % 7 }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
