import Aloft
import Foundation
import Testing

/// Stored container output on a real server: `aloft app logs`, the HTTP API's logs routes, a follow across a
/// restart, and Server-Sent Events (read with curl).
@Suite("Stored logs", .serialized, .timeLimit(.minutes(5)))
struct LogTests {
    func aloft(
        _ arguments: [String], _ server: ServerProcess, token: String? = nil
    ) async throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        try await runProduct(
            "aloft", arguments: arguments,
            environment: ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": token ?? server.token])
    }

    /// The JSON objects `aloft app logs --json` printed.
    func jsonLines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    @Test("each line is kept with its app, function, container, host and call; aloft app logs filters and prints it")
    func keptAndFiltered() async throws {
        let directory = temporaryPath("aloft-logs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let say: Function<String, String> = server.app("fixtures").lookup("say")
        let first = try await say.spawn("first-line")
        #expect(try await first.get() == "first-line")
        let second = try await say.spawn("second-line")
        #expect(try await second.get() == "second-line")

        // Output reaches the server through a pipe, a moment after the result.
        var lines: [[String: Any]] = []
        #expect(
            try await eventuallyAsync {
                guard let listed = try? await aloft(["app", "logs", "fixtures", "--call", first.id, "--json"], server)
                else { return false }
                lines = jsonLines(listed.stdout)
                return lines.count == 2
            })
        let out = try #require(lines.first { $0["stream"] as? String == "stdout" })
        #expect(out["text"] as? String == "first-line")
        #expect(out["call_id"] as? String == first.id && out["function"] as? String == "say")
        #expect(out["app"] as? String == "fixtures" && out["host"] as? String == "local")
        #expect((out["container"] as? String)?.hasPrefix("ctr-") == true && out["input"] as? Int == 0)
        #expect(
            lines.contains { $0["stream"] as? String == "stderr" && $0["text"] as? String == "first-line (stderr)" })

        // Text form: standard error's lines on standard error; filters by function and call.
        let both = try await aloft(["app", "logs", "fixtures", "--function", "say"], server)
        #expect(both.status == 0, "\(both.stderr)")
        #expect(
            both.stdout.contains("say ctr-") && both.stdout.contains(" \(second.id)  second-line\n"), "\(both.stdout)")
        #expect(both.stderr.contains("second-line (stderr)") && !both.stdout.contains("(stderr)"), "\(both.stderr)")
        let other = try await aloft(["app", "logs", "fixtures", "--function", "square"], server)
        #expect(other.status == 0 && other.stdout.isEmpty && other.stderr.isEmpty, "\(other)")
        let newest = try await aloft(["app", "logs", "fixtures", "--tail", "1", "--json"], server)
        let newestLines = jsonLines(newest.stdout).compactMap { $0["text"] as? String }
        #expect(newestLines.count == 1 && newestLines[0].hasPrefix("second-line"), "\(newest.stdout)")
        let recent = try await aloft(["app", "logs", "fixtures", "--since", "10m", "--json"], server)
        #expect(jsonLines(recent.stdout).count == 4, "\(recent.stdout)")

        // Another workspace sees none of it; a bad filter is a clear error.
        let token = try await runProduct(
            "aloft", arguments: ["token", "new", "--workspace", "other", "--data-dir", directory]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let foreign = try await aloft(["app", "logs", "fixtures", "--json"], server, token: token)
        #expect(foreign.status == 0 && foreign.stdout.isEmpty, "\(foreign)")
        let bad = try await aloft(["app", "logs", "fixtures", "--since", "yesterday"], server)
        #expect(bad.status == 1 && bad.stderr.contains("since is an age such as 10m"), "\(bad.stderr)")
        #expect(await server.terminate() == 0)
    }

    @Test(
        "aloft app logs --follow prints new lines as they come, and goes on after a kill -9 and restart of the server")
    func followAcrossRestart() async throws {
        let directory = temporaryPath("aloft-logs-follow")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ports = ["--port", String(try freePort()), "--http-port", String(try freePort())]
        var server = try await ServerProcess(dataDirectory: directory, arguments: ports)
        var say: Function<String, String> = server.app("fixtures").lookup("say")
        #expect(try await say.remote("before-follow") == "before-follow")
        let follower = try ChildProcess.product(
            "aloft", arguments: ["app", "logs", "fixtures", "--follow", "--json", "--function", "say"],
            environment: ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": server.token])
        try await follower.waitForOutput("\"before-follow\"")
        #expect(try await say.remote("while-following") == "while-following")
        try await follower.waitForOutput("\"while-following\"")

        await server.kill()
        try await follower.waitForOutput("reconnecting", onErrors: true)
        server = try await ServerProcess(dataDirectory: directory, arguments: ports)
        say = server.app("fixtures").lookup("say")
        #expect(try await say.remote("after-restart") == "after-restart")
        try await follower.waitForOutput("\"after-restart\"")
        // Standard error comes through a pipe of its own: its line may be read a moment after.
        try await follower.waitForOutput("reconnected", onErrors: true)
        follower.signal(SIGINT)
        _ = try await follower.waitForExit()

        // Each line once, in the order printed, their sequence rising across the restart.
        let lines = jsonLines(follower.stdout).filter { $0["stream"] as? String == "stdout" }
        #expect(lines.map { $0["text"] as? String } == ["before-follow", "while-following", "after-restart"])
        let sequences = jsonLines(follower.stdout).compactMap { $0["seq"] as? Int }
        #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count, "\(sequences)")
        #expect(await server.terminate() == 0)
    }

    @Test("the HTTP API follows as Server-Sent Events, and Last-Event-ID resumes after the line it names")
    func serverSentEvents() async throws {
        let directory = temporaryPath("aloft-logs-sse")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let say: Function<String, String> = server.app("fixtures").lookup("say")
        #expect(try await say.remote("one") == "one")
        func curl(_ headers: [String]) throws -> ChildProcess {
            try server.events(
                "/v1/apps/fixtures/logs?function=say", headers: ["Authorization: Bearer \(server.token)"] + headers)
        }
        let stream = try curl([])
        #expect(try await say.remote("two") == "two")
        // Standard output and standard error arrive through pipes of their own: in either order.
        try await stream.waitForOutput("\"text\":\"two (stderr)\"")
        try await stream.waitForOutput("\"text\":\"two\"")
        // Every event is `id: SEQ` then `data: {…}`.
        let events = stream.stdout.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(
            events.count == 4 && events.allSatisfy { $0.hasPrefix("id: ") && $0.contains("\ndata: {") }, "\(events)")
        let one = try #require(
            events.first { $0.contains("\"text\":\"one\"") }.flatMap { ServerProcess.eventIDs($0).first })
        await stream.kill()

        let resumed = try curl(["Last-Event-ID: \(one)"])
        try await resumed.waitForOutput("\"text\":\"two (stderr)\"")
        try await resumed.waitForOutput("\"text\":\"two\"")
        let ids = ServerProcess.eventIDs(resumed.stdout)
        #expect(!ids.isEmpty && ids.allSatisfy { $0 > one }, "\(resumed.stdout)")
        await resumed.kill()

        // A Last-Event-ID at the end of the numbers is answered (nothing after it), not a crash.
        let huge = try await runProcess(
            "/usr/bin/curl",
            arguments: [
                "-s", "-H", "Authorization: Bearer \(server.token)", "-H", "Last-Event-ID: 18446744073709551615",
                server.httpURL + "/v1/apps/fixtures/logs",
            ])
        #expect(huge.status == 0 && huge.stdout.contains("\"lines\":[]"), "\(huge)")
        #expect(try await say.remote("still up") == "still up")
        #expect(await server.terminate() == 0)
    }
}
