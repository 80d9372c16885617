import AloftCore
import Foundation
import Testing

/// The progress line of a big map: on a terminal (a pseudo-terminal made by util-linux's `script`), not in a pipe,
/// not with ALOFT_PROGRESS=0.
@Suite("Map progress", .serialized, .timeLimit(.minutes(3)))
struct ProgressTests {
    let testApp = productsDirectory.appendingPathComponent("aloft-test-app").path

    /// Runs `aloft-test-app map_squares 3000` under a pseudo-terminal; returns what the terminal got.
    func onTerminal(_ environment: [String: String] = [:]) async throws -> String {
        let run = try await runProcess(
            "/usr/bin/script", arguments: ["-qec", "\(testApp) map_squares 3000", "/dev/null"],
            environment: environment)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("sum 8995500500"), "\(run.stdout)")
        return run.stdout
    }

    @Test("a big map on a terminal shows done/total, the rate, and ends with the whole count; a pipe shows none")
    func progressLine() async throws {
        let terminal = try await onTerminal()
        #expect(terminal.contains("\r\u{1B}[Kmap square: 3000/3000 done, "), "\(terminal)")
        #expect(terminal.contains("/s"))
        let quiet = try await onTerminal(["ALOFT_PROGRESS": "0"])
        #expect(!quiet.contains("map square:"), "\(quiet)")
        let piped = try await runProcess(testApp, arguments: ["map_squares", "3000"])
        #expect(piped.status == 0 && piped.stdout.contains("sum 8995500500"))
        #expect(!piped.stderr.contains("map square:") && !piped.stdout.contains("map square:"), "\(piped.stderr)")
    }
}

/// `aloft deploy`'s upload on a terminal: its progress line; in a pipe, none.
@Suite("Upload progress", .serialized, .timeLimit(.minutes(3)))
struct UploadProgressTests {
    @Test("aloft deploy on a terminal shows the upload's MiB sent of the whole and its rate; a pipe shows none")
    func uploadLine() async throws {
        let directory = temporaryPath("aloft-upload-progress")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let aloft = productsDirectory.appendingPathComponent("aloft").path
        let environment = ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": server.token]
        // A copy with a byte of its own: a new digest, so that it is uploaded, not found on the server.
        let executable = temporaryPath("aloft-upload-progress-app")
        defer { try? FileManager.default.removeItem(atPath: executable) }
        var bytes = try Data(contentsOf: productsDirectory.appendingPathComponent("aloft-test-app"))
        bytes.append(contentsOf: [0x0A])
        try bytes.write(to: URL(fileURLWithPath: executable))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: executable)
        let megabytes = ProgressLine.rate(Double(bytes.count) / 1_048_576)

        let terminal = try await runProcess(
            "/usr/bin/script", arguments: ["-qec", "\(aloft) deploy --executable \(executable)", "/dev/null"],
            environment: environment)
        #expect(terminal.status == 0, "\(terminal.stdout)")
        let name = (executable as NSString).lastPathComponent
        #expect(
            terminal.stdout.contains("\r\u{1B}[Kuploading \(name): \(megabytes)/\(megabytes) MiB, "),
            "\(terminal.stdout)")
        #expect(terminal.stdout.contains("MiB/s") && terminal.stdout.contains(", uploaded)"), "\(terminal.stdout)")

        // Again, piped: the artifact is on the server now; a fresh copy is uploaded without a line.
        bytes.append(contentsOf: [0x0A])
        try bytes.write(to: URL(fileURLWithPath: executable))
        let piped = try await runProcess(
            aloft, arguments: ["deploy", "--executable", executable], environment: environment)
        #expect(piped.status == 0 && piped.stdout.contains(", uploaded)"), "\(piped.stderr)")
        #expect(!piped.stderr.contains("uploading") && !piped.stdout.contains("uploading"), "\(piped.stderr)")
        #expect(await server.terminate() == 0)
    }
}

@Suite("Blocking calls from async code", .timeLimit(.minutes(3)))
struct AsyncWarningTests {
    @Test("ALOFT_ASYNC_WARNINGS=error makes a blocking call from async code fail; by default it warns; 0 is silent")
    func modes() async throws {
        func run(_ setting: String?) async throws -> (stdout: String, stderr: String) {
            let run = try await runProduct(
                "aloft-test-app", arguments: ["blocking_in_async"],
                environment: setting.map { ["ALOFT_ASYNC_WARNINGS": $0] } ?? [:])
            #expect(run.status == 0, "\(run.stderr)")
            return (run.stdout, run.stderr)
        }
        let failing = try await run("error")
        #expect(failing.stdout.contains("error blockingCallInAsyncContext: "), "\(failing.stdout)")
        #expect(failing.stdout.contains("use the async form `try await square.remote(…)`"), "\(failing.stdout)")
        let warned = try await run(nil)
        #expect(warned.stdout.contains("result 25") && warned.stderr.contains("=error to make it an error"))
        let silent = try await run("0")
        #expect(silent.stdout.contains("result 25") && !silent.stderr.contains("blocking Aloft call"))
    }
}
