import Aloft
import Foundation
import Testing

/// The dashboard in a real browser (Tests/Browser/dashboard_test.py: headless Chromium and Selenium, which
/// `.ci/run` installs and requires with `ALOFT_REQUIRE_BROWSER=1`); skipped where they are not installed. A browser
/// takes much of a 2-core machine: `scripts/test` runs it after the rest, alone (`ALOFT_ALONE=1`).
@Suite("Dashboard", .serialized, .timeLimit(.minutes(5)))
struct DashboardTests {
    static let browserReason: String? = {
        for path in ["/usr/bin/chromium", "/usr/bin/chromedriver", "/usr/bin/python3"]
        where !FileManager.default.isExecutableFile(atPath: path) {
            return "\(path) is missing (apt-get install chromium chromium-driver python3-selenium)"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", "import selenium"]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "python3 does not run" }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? nil : "Selenium is missing (apt-get install python3-selenium)"
    }()

    @Test(
        "the browser is there when CI requires it",
        .enabled(if: ProcessInfo.processInfo.environment["ALOFT_REQUIRE_BROWSER"] == "1"))
    func browserAvailable() {
        #expect(Self.browserReason == nil, "\(Self.browserReason ?? "")")
    }

    @Test(
        "log in with a token, open an app, see a call appear and finish, follow its logs, see a failure's error; another workspace sees none of it",
        .enabled(if: browserReason == nil),
        .enabled(if: ProcessInfo.processInfo.environment["ALOFT_ALONE"] == "1", "runs alone: ALOFT_ALONE=1"))
    func inTheBrowser() async throws {
        let directory = temporaryPath("aloft-dashboard")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        try await server.deployTestApp()
        let other = try await runProduct(
            "aloft", arguments: ["token", "new", "--workspace", "other", "--data-dir", directory]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Browser/dashboard_test.py").path
        var environment = ["ALOFT_URL": server.httpURL, "ALOFT_TOKEN": server.token, "ALOFT_OTHER_TOKEN": other]
        // `ALOFT_SCREENSHOTS=docs` (from the repository's root) refreshes the screenshots in docs/.
        if let screenshots = ProcessInfo.processInfo.environment["ALOFT_SCREENSHOTS"] {
            environment["ALOFT_SCREENSHOTS"] = screenshots
        }
        let run = try await runProcess(
            "/usr/bin/python3", arguments: [script], environment: environment, timeout: .seconds(180))
        #expect(run.status == 0 && run.stdout.contains("dashboard: ok"), "\(run.stdout)\n\(run.stderr)")
        #expect(await server.terminate() == 0)
    }
}
