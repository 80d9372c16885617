import Aloft
import Foundation
import Testing

/// Schedules on a real server: the test app deployed with its scheduled `tick` (ALOFT_TEST_SCHEDULES=tick), whose
/// runs put the time on queue `ticks`; the server's log names each tick it fires.
@Suite("Schedules on a server", .serialized, .timeLimit(.minutes(5)))
struct ScheduleServerTests {
    let testApp = productsDirectory.appendingPathComponent("aloft-test-app").path

    func aloft(
        _ arguments: [String], _ server: ServerProcess, schedules: String = "tick"
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await runProduct(
            "aloft", arguments: arguments,
            environment: [
                "ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": server.token, "ALOFT_TEST_SCHEDULES": schedules,
            ])
    }

    /// The ticks the server's log at `path` says it fired, in order (ISO 8601, UTC).
    func firedTicks(_ path: String) -> [String] {
        let log = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return log.split(separator: "\n").filter { $0.contains("schedule fired") }.compactMap { line in
            line.firstRange(of: "aloft.tick=").map { String(line[$0.upperBound...].prefix { $0 != " " }) }
        }
    }

    @Test(
        "a 1-second period fires about once a second, each run an ordinary call; a kill -9 and restart repeat no tick")
    func periodAcrossRestart() async throws {
        let directory = temporaryPath("aloft-schedules")
        let logs = temporaryPath("aloft-schedule-logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: logs)
        }
        let arguments = ["--log-level", "info"]
        var server = try await ServerProcess(dataDirectory: directory, arguments: arguments, standardError: logs + "/1")
        let deployed = try await aloft(["deploy", "--executable", testApp], server)
        #expect(deployed.status == 0, "\(deployed.stderr)")
        #expect(deployed.stdout.contains("  schedule tick: every 1s; next "), "\(deployed.stdout)")

        // The first run waits for a cold start; then N seconds fire about N ticks (generous bounds: a loaded machine).
        #expect(try await eventually { firedTicks(logs + "/1").count >= 2 })
        // The window is measured, not assumed: on a loaded machine a 4 s sleep can last much longer.
        let before = firedTicks(logs + "/1").count
        let windowStart = ContinuousClock.now
        try await Task.sleep(for: .seconds(4))
        let fired = firedTicks(logs + "/1").count - before
        let window = (ContinuousClock.now - windowStart) / .seconds(1)
        #expect(fired >= 2 && Double(fired) <= window + 2, "\(fired) ticks in \(window) s")

        // Each tick is a call with an id and a result: the runs reach the queue, the last one is listed.
        let control = RemoteControlPlane(server.address, token: server.token)
        let ticks = Queue<Double>.fromName("ticks", createIfMissing: true, controlPlane: control)
        #expect(try await eventuallyAsync { (try? await ticks.count()) ?? 0 >= before })
        let listed = try await server.http("GET", "/v1/apps/fixtures/schedules")
        let schedule = try #require((listed.json["schedules"] as? [[String: Any]])?.first)
        #expect(schedule["function"] as? String == "tick")
        #expect(schedule["schedule"] as? String == "every 1s")
        let callID = try #require(schedule["last_call_id"] as? String)
        #expect(callID.hasPrefix("fc-"))
        let result = try await server.http("GET", "/v1/calls/\(callID)?timeout=30")
        #expect(result.json["result"] as? Double != nil, "\(result.json)")
        let list = try await aloft(["app", "list"], server)
        #expect(list.stdout.contains("\n  schedule tick: every 1s; next "), "\(list.stdout)")

        // Killed right after a tick fired, restarted at once: the ticks fired before and after are all different,
        // and the next one follows the last before the kill.
        let last = firedTicks(logs + "/1").count
        #expect(try await eventually { firedTicks(logs + "/1").count > last })
        await server.kill()
        let beforeKill = firedTicks(logs + "/1")
        server = try await ServerProcess(dataDirectory: directory, arguments: arguments, standardError: logs + "/2")
        #expect(try await eventually { firedTicks(logs + "/2").count >= 3 })
        let afterRestart = firedTicks(logs + "/2")
        let all = beforeKill + afterRestart
        #expect(Set(all).count == all.count, "a tick fired twice: \(all)")
        #expect(try #require(afterRestart.first) > (try #require(beforeKill.last)))
        #expect(await server.terminate() == 0)
    }

    @Test("a schedule on a function with arguments, or a cron that cannot be read, is a clear error at deploy time")
    func badSchedules() async throws {
        let directory = temporaryPath("aloft-schedules")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let withArgument = try await aloft(["deploy", "--executable", testApp], server, schedules: "arguments")
        #expect(withArgument.status != 0)
        #expect(
            withArgument.stderr.contains(
                "function 'scheduled_with_argument' has a schedule (every 1min) but takes arguments"),
            "\(withArgument.stderr)")
        let badCron = try await aloft(["deploy", "--executable", testApp], server, schedules: "bad_cron")
        #expect(badCron.status != 0)
        #expect(badCron.stderr.contains("function 'bad_cron': "), "\(badCron.stderr)")
        #expect(try await aloft(["app", "list"], server).stdout.isEmpty)

        // The server checks a manifest too (one sent by hand), before it looks for the executable.
        let zeros = String(repeating: "0", count: 64)
        func deploy(_ options: String, takesArguments: Bool = false) async throws -> ServerProcess.Reply {
            try await server.http(
                "POST", "/v1/apps/demo/deploy",
                body: """
                    {"artifact": "\(zeros)", "manifest": {"appName": "demo", "functions": [{"appName": "demo", \
                    "functionName": "f", "takesArguments": \(takesArguments), "options": \(options)}]}}
                    """)
        }
        func message(_ reply: ServerProcess.Reply) -> String {
            (reply.json["error"] as? [String: Any])?["message"] as? String ?? ""
        }
        let cron = try await deploy(#"{"schedule": {"cron": "* * * *", "timeZone": "UTC"}}"#)
        #expect(cron.status == 400)
        #expect(message(cron).hasPrefix("function 'f': cron expression '* * * *' has 4 fields"), "\(cron.json)")
        let zone = try await deploy(#"{"schedule": {"cron": "@daily", "timeZone": "Mars/Olympus"}}"#)
        #expect(zone.status == 400, "\(zone.json)")
        let arguments = try await deploy(#"{"schedule": {"minutes": 5}}"#, takesArguments: true)
        #expect(arguments.status == 400)
        #expect(message(arguments).contains("has a schedule but takes arguments"), "\(arguments.json)")
        #expect(try await deploy(#"{"schedule": {"minutes": 5}}"#).status == 404)  // valid: no such executable
        #expect(await server.terminate() == 0)
    }
}
