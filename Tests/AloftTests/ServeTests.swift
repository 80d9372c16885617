import Aloft
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `aloft serve`: a private server that serves an app's endpoints and redeploys it when its executable changes.
@Suite("aloft serve", .serialized, .timeLimit(.minutes(5)))
struct ServeTests {
    /// The word after `marker` in `text` (a URL, a directory).
    func word(after marker: String, in text: String) throws -> String {
        let range = try #require(text.range(of: marker), "no '\(marker)' in: \(text)")
        return String(text[range.upperBound...].prefix { !$0.isWhitespace && $0 != ")" && $0 != "," })
    }

    func post(_ url: String, _ body: String) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        request.timeoutInterval = 60
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test("serves endpoints, redeploys on a change without failing a request, survives a bad one, stops on Ctrl-C")
    func redeploysOnChange() async throws {
        let directory = temporaryPath("aloft-serve")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let executable = (directory as NSString).appendingPathComponent("app")
        try FileManager.default.copyItem(
            atPath: productsDirectory.appendingPathComponent("aloft-test-app").path, toPath: executable)

        let serve = try ChildProcess.product(
            "aloft", arguments: ["serve", "--executable", executable, "--http-port", "0", "--interval", "0.2"])
        try await serve.waitForOutput("serving app 'fixtures'", timeout: .seconds(60))
        #expect(serve.stdout.contains("deployed app 'fixtures' version 1:"))
        let url = try word(after: "endpoint web_square: POST ", in: serve.stdout)
        #expect(url.hasSuffix("/main/fixtures/web_square"), "\(url)")
        let dataDirectory = try word(after: "(data in ", in: serve.stdout)
        #expect(FileManager.default.fileExists(atPath: dataDirectory))
        let first = try await post(url, #"{"x": 9}"#)
        #expect(first.status == 200 && first.body.contains(#""square":81"#), "\(first)")

        // A new executable (the same bytes, written again) is deployed as version 2 while requests keep coming.
        let done = DoneFlag()
        let requests = Task {
            var statuses: [Int] = []
            while !done.isSet && statuses.count < 2_000 {
                statuses.append((try? await post(url, #"{"x": 3}"#))?.status ?? 0)
            }
            return statuses
        }
        try FileManager.default.removeItem(atPath: executable)
        try FileManager.default.copyItem(
            atPath: productsDirectory.appendingPathComponent("aloft-test-app").path, toPath: executable)
        try await serve.waitForOutput("deployed app 'fixtures' version 2:", timeout: .seconds(60))
        let after = try await post(url, #"{"x": 4}"#)
        done.set()  // the request in flight finishes: cancelling it would count as a failure
        let statuses = await requests.value
        #expect(!statuses.isEmpty && statuses.allSatisfy { $0 == 200 }, "\(Set(statuses))")
        #expect(after.status == 200 && after.body.contains(#""square":16"#), "\(after)")

        // An executable that is no app: not deployed, the last good version keeps serving.
        try FileManager.default.removeItem(atPath: executable)
        try "#!/bin/sh\nexit 3\n".write(toFile: executable, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: executable)
        // Waits for this refusal, not an earlier one: the copy above may have been seen half-written and refused.
        try await serve.waitForOutput("still serving version 2", onErrors: true, timeout: .seconds(60))
        #expect(serve.stderr.contains("not redeployed"), "\(serve.stderr)")
        #expect(serve.stderr.contains("still serving version 2"), "\(serve.stderr)")
        let still = try await post(url, #"{"x": 5}"#)
        #expect(still.status == 200 && still.body.contains(#""square":25"#), "\(still)")

        serve.signal(SIGINT)
        #expect(try await serve.waitForExit(timeout: .seconds(30)) == 0, "\(serve.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dataDirectory))
    }

    @Test("a run of an app with web endpoints on the embedded default says how to serve them")
    func runNamesServe() async throws {
        let run = try await runProduct("aloft-test-app", arguments: ["noop"])
        #expect(run.status == 0 && run.stdout == "noop\n", "\(run)")
        #expect(run.stderr.contains("does not serve web endpoints (web_square, "), "\(run.stderr)")
        // A run against a server is served by it: no note (this one calls nothing, so it needs no server up).
        let remote = try await runProduct(
            "aloft-test-app", arguments: ["noop"], environment: ["ALOFT_CONTROL_PLANE": "127.0.0.1:1"])
        #expect(remote.status == 0 && !remote.stderr.contains("web endpoints"), "\(remote)")
    }
}
