import Aloft
import Foundation
import Testing

/// What a container used, as the dashboard shows it for containers of the server's own host.
@Suite("Container usage", .serialized, .timeLimit(.minutes(3)))
struct ContainerUsageTests {
    @Test("the dashboard shows a container's CPU time (a busy loop's at least) and its resident memory")
    func shown() async throws {
        let directory = temporaryPath("aloft-usage")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let busy: Function<Double, BusyReport> = server.app("fixtures").lookup("busy_loop")
        let report = try await busy.remote(0.5)
        let shown = try #require(try await server.dashboardUsage(app: "fixtures", container: report.containerID))
        // The process's own count, its start included: at least the loop's, and less than the whole run.
        #expect(shown.cpuSeconds >= report.cpuSeconds * 0.9 && shown.cpuSeconds < report.cpuSeconds + 5, "\(shown)")
        #expect(shown.memoryMiB >= 2 && shown.memoryMiB < 2_000, "\(shown)")
        #expect(await server.terminate() == 0)
    }

    @Test("a worker host reports its containers' CPU time and memory with its heartbeats; the dashboard shows them")
    func reportedByWorkerHosts() async throws {
        let directory = temporaryPath("aloft-usage-worker")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory, arguments: ["--local-worker", "off"])
        let token = try await newWorkerToken(dataDirectory: directory)
        let worker = try await WorkerProcess(
            server: server, token: token, name: "usage-host", cacheDirectory: directory + "/cache")
        try await server.deployTestApp()
        let busy: Function<Double, BusyReport> = server.app("fixtures").lookup("busy_loop")
        let report = try await busy.remote(0.5)
        #expect(try await server.dashboardPage(app: "fixtures").contains("on usage-host"))
        // The next heartbeat (every 2 s) carries what the loop used.
        var shown: (cpuSeconds: Double, memoryMiB: Int)?
        let reported = try await eventuallyAsync {
            shown = try? await server.dashboardUsage(app: "fixtures", container: report.containerID)
            return (shown?.cpuSeconds ?? 0) >= report.cpuSeconds * 0.9
        }
        #expect(reported, "\(String(describing: shown))")
        if let shown {
            #expect(shown.cpuSeconds < report.cpuSeconds + 5, "\(shown)")
            #expect(shown.memoryMiB >= 2 && shown.memoryMiB < 2_000, "\(shown)")
        }
        await worker.kill()
        #expect(await server.terminate() == 0)
    }
}

/// The app page's live stream, as a browser's EventSource reads it.
@Suite("Dashboard live log", .serialized, .timeLimit(.minutes(3)))
struct DashboardLiveTests {
    @Test("a reconnect with Last-Event-ID gets the lines after that one, none it saw before")
    func resumes() async throws {
        let directory = temporaryPath("aloft-dashboard-live")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let say: Function<String, String> = server.app("fixtures").lookup("say")
        #expect(try await say.remote("first") == "first")
        func live(_ headers: [String]) throws -> ChildProcess {
            try server.events(
                "/dashboard/apps/fixtures/live?function=say", headers: ["Cookie: aloft_token=\(server.token)"] + headers
            )
        }
        let stream = try live([])
        try await stream.waitForOutput("\"text\":\"first\"")
        let events = stream.stdout.components(separatedBy: "\n\n").filter { $0.contains("event: log") }
        let first = try #require(
            events.first { $0.contains("\"text\":\"first\"") }.flatMap { ServerProcess.eventIDs($0).first })
        await stream.kill()

        #expect(try await say.remote("second") == "second")
        let resumed = try live(["Last-Event-ID: \(first)"])
        try await resumed.waitForOutput("\"text\":\"second\"")
        #expect(!resumed.stdout.contains("\"text\":\"first\""), "\(resumed.stdout)")
        await resumed.kill()
        #expect(await server.terminate() == 0)
    }
}
