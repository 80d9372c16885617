import AloftCore
import Foundation
import Testing

@Suite("Schedules")
struct ScheduleTests {
    struct Fixtures: Decodable {
        struct Case: Decodable {
            let expression: String
            let timeZone: String
            let start: String
            let next: [String]

            enum CodingKeys: String, CodingKey {
                case expression, start, next
                case timeZone = "time_zone"
            }
        }
        let generator: String
        let cases: [Case]
    }

    static func fixtures() throws -> Fixtures {
        // Written by scripts/cron-fixtures.py with Python's croniter.
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/cron-next.json")
        return try JSONDecoder().decode(Fixtures.self, from: Data(contentsOf: path))
    }

    @Test("cron next-fire times match croniter's, DST changes in three zones included")
    func cronMatchesCroniter() throws {
        let fixtures = try Self.fixtures()
        #expect(fixtures.cases.count >= 200)
        let format = ISO8601DateFormatter()
        var checked = 0
        for fixture in fixtures.cases {
            let cron = try CronExpression(fixture.expression, timeZone: fixture.timeZone)
            var date = try #require(format.date(from: fixture.start))
            var got: [String] = []
            for _ in fixture.next {
                date = cron.next(after: date)
                got.append(format.string(from: date))
            }
            #expect(got == fixture.next, "\(fixture.expression) in \(fixture.timeZone) after \(fixture.start)")
            checked += 1
        }
        #expect(checked == fixtures.cases.count)
    }

    @Test("bad cron expressions and time zones are clear invalidConfiguration errors")
    func badCron() {
        let bad: [(String, String, String)] = [
            ("* * * *", "UTC", "has 4 fields"), ("60 * * * *", "UTC", "60 is outside 0-59"),
            ("* 24 * * *", "UTC", "hour '24'"), ("0 0 30 2 *", "UTC", "never fires"),
            ("0 0 * FOO *", "UTC", "'FOO' is not a number"), ("*/0 * * * *", "UTC", "step '0'"),
            ("5-1 * * * *", "UTC", "runs backwards"), ("@often", "UTC", "unknown cron alias"),
            ("0 9 * * 1-5", "Mars/Olympus", "unknown time zone"), ("1,,2 * * * *", "UTC", "empty list item"),
        ]
        for (expression, zone, message) in bad {
            do {
                _ = try CronExpression(expression, timeZone: zone)
                Issue.record("'\(expression)' in \(zone) was accepted")
            } catch {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }

    @Test("a Period ticks at whole multiples from its anchor, months by the calendar")
    func period() throws {
        let format = ISO8601DateFormatter()
        let anchor = try #require(format.date(from: "2026-01-31T10:00:00Z"))
        var date = anchor
        var ticks: [String] = []
        for _ in 0..<4 {
            date = try Schedule.period(.months(1)).next(after: date, anchor: anchor)
            ticks.append(format.string(from: date))
        }
        #expect(
            ticks == ["2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z", "2026-04-30T10:00:00Z", "2026-05-31T10:00:00Z"])
        // From long after the anchor: the next multiple, not the time plus one period.
        let later = anchor.addingTimeInterval(7 * 3600 + 1)
        #expect(
            try Schedule.period(.hours(2)).next(after: later, anchor: anchor)
                == anchor.addingTimeInterval(8 * 3600))
        #expect(
            try Schedule.period(Period(days: 1, seconds: 0.5)).next(after: anchor, anchor: anchor)
                == anchor.addingTimeInterval(86_400.5))
        #expect(throws: AloftError.self) { try Schedule.period(Period()).validate() }
        #expect(throws: AloftError.self) { try Schedule.period(.minutes(-1)).validate() }
    }
}
