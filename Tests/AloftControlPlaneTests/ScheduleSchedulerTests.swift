import AloftCore
import AloftWire
import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import AloftControlPlane

/// The Schedules room in-process: a deployment's ticks on the loop's clock, a stopped app's end, and what a restart
/// resumes (no repeat, no back-fill unless the schedule catches up).
@Suite("Schedules in the scheduler")
struct ScheduleSchedulerTests {
    /// A harness whose wall clock moves with its loop's, from `start`.
    func harness(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) -> Harness {
        let harness = Harness()
        let loop = harness.loop
        harness.scheduler.wallClock = {
            start.addingTimeInterval(Double(loop.now.uptimeNanoseconds) / 1e9)
        }
        return harness
    }

    func manifest(_ functions: [(String, Schedule?)], app: String = "app") -> AppManifest {
        var manifest = Aloft_V1_AppManifest()
        manifest.appName = app
        manifest.functions = functions.map { name, schedule in
            var register = Aloft_V1_FunctionRegister()
            register.appName = app
            register.functionName = name
            register.executable = "/fake/\(app)"
            register.options = Aloft_V1_FunctionOptions(FunctionOptions(schedule: schedule))
            return register
        }
        return AppManifest(wire: manifest)
    }

    func deploy(_ manifest: AppManifest, on harness: Harness, version: Int = 1) throws {
        let promise = harness.loop.makePromise(of: Void.self)
        harness.scheduler.activate(
            workspace: "", manifest: manifest, artifact: "", path: "/fake/app", version: version, new: nil,
            promise: promise)
        harness.loop.run()
        try promise.futureResult.wait()
    }

    /// The calls the scheduler made for function `name`: every one a spawn with one empty input.
    func calls(of name: String, on harness: Harness) -> [CallRecord] {
        harness.scheduler.calls.values.filter { $0.functionName == name }
    }

    @Test("a 1-second period fires once a second from the deployment, each tick one spawned call without arguments")
    func periodFires() throws {
        let harness = harness()
        try deploy(manifest([("tick", .period(.seconds(1))), ("plain", nil)]), on: harness)
        harness.advance(by: .milliseconds(900))
        #expect(calls(of: "tick", on: harness).isEmpty)
        harness.advance(by: .milliseconds(200))
        #expect(calls(of: "tick", on: harness).count == 1)
        for _ in 0..<4 { harness.advance(by: .seconds(1)) }
        let made = calls(of: "tick", on: harness)
        #expect(made.count == 5)
        #expect(made.allSatisfy { $0.kind == .spawn })
        #expect(calls(of: "plain", on: harness).isEmpty)
        let entry = try #require(harness.scheduler.schedules[.init(workspace: "", app: "app", function: "tick")])
        #expect(entry.stored.lastTick == entry.stored.anchor.addingTimeInterval(5))
        #expect(entry.next == entry.stored.anchor.addingTimeInterval(6))
        #expect(made.contains { $0.id == entry.stored.lastCallID })
    }

    @Test("a cron schedule fires on its minutes; a stopped app's schedule ends; a redeploy restarts a period's clock")
    func cronStopAndRedeploy() throws {
        // 10:00:30 UTC: the cron ticks at 10:01:00, 10:02:00, …
        let harness = harness(
            start: Date(timeIntervalSince1970: 1_800_000_000 - 1_800_000_000.truncatingRemainder(dividingBy: 3600) + 30)
        )
        try deploy(manifest([("minutely", .cron("* * * * *")), ("hourly", .cron("@hourly"))]), on: harness)
        harness.advance(by: .seconds(29))
        #expect(calls(of: "minutely", on: harness).isEmpty)
        harness.advance(by: .seconds(2))
        #expect(calls(of: "minutely", on: harness).count == 1)
        // Timers wake at most every 10 minutes and look again; the hourly tick still fires on the hour.
        for _ in 0..<60 { harness.advance(by: .seconds(60)) }
        #expect(calls(of: "minutely", on: harness).count == 61)
        #expect(calls(of: "hourly", on: harness).count == 1)

        let stopped = harness.loop.makePromise(of: Void.self)
        harness.scheduler.stopApp(workspace: "", appName: "app", promise: stopped)
        harness.loop.run()
        try stopped.futureResult.wait()
        #expect(harness.scheduler.schedules.entries.isEmpty)

        // Deployed again 0.7 s into a second: a 2-second period ticks 2 s after the deployment, not on the old clock.
        harness.advance(by: .milliseconds(700))
        try deploy(manifest([("every2", .period(.seconds(2)))]), on: harness, version: 2)
        harness.advance(by: .milliseconds(1_900))
        #expect(calls(of: "every2", on: harness).isEmpty)
        harness.advance(by: .milliseconds(200))
        #expect(calls(of: "every2", on: harness).count == 1)
    }

    @Test("a restored schedule never repeats its last tick, skips ticks missed while down, and catchingUp runs one")
    func restore() throws {
        let harness = harness()
        let every = Schedule.period(.seconds(10))
        try deploy(manifest([("quiet", every), ("eager", every.catchingUp()), ("recent", every)]), on: harness)
        #expect(harness.scheduler.schedules.entries.count == 3)
        let now = harness.scheduler.wallClock()
        // As a restarted control plane finds them: `quiet` and `eager` last ran 35 s ago (three ticks missed since),
        // `recent` ran 1 s ago (its next tick is 9 s away).
        let anchor = now.addingTimeInterval(-65)
        harness.scheduler.cancelScheduleTimers()
        harness.scheduler.restoreSchedules([
            StoredSchedule(
                workspace: "", appName: "app", function: "quiet", anchor: anchor,
                lastTick: anchor.addingTimeInterval(30)),
            StoredSchedule(
                workspace: "", appName: "app", function: "eager", anchor: anchor,
                lastTick: anchor.addingTimeInterval(30)),
            StoredSchedule(
                workspace: "", appName: "app", function: "recent", anchor: anchor.addingTimeInterval(4),
                lastTick: anchor.addingTimeInterval(64)),
            StoredSchedule(workspace: "", appName: "app", function: "gone", anchor: anchor),
        ])
        harness.loop.run()
        #expect(calls(of: "quiet", on: harness).isEmpty)
        #expect(calls(of: "eager", on: harness).count == 1)
        #expect(calls(of: "recent", on: harness).isEmpty)
        #expect(harness.scheduler.schedules.entries.count == 3)
        // The next ticks keep the stored clock: quiet and eager at anchor + 70 s (5 s from now), recent at + 74 s.
        harness.advance(by: .milliseconds(5_100))
        #expect(calls(of: "quiet", on: harness).count == 1)
        #expect(calls(of: "eager", on: harness).count == 2)
        #expect(calls(of: "recent", on: harness).isEmpty)
        harness.advance(by: .seconds(4))
        #expect(calls(of: "recent", on: harness).count == 1)
    }
}
