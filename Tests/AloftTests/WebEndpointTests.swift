import Aloft
import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Web endpoints on a real server: the test app's `web_*` functions, deployed, called over real HTTP at
/// `/main/fixtures/<label>` without a token (unless the endpoint requires one).
@Suite("Web endpoints", .serialized, .timeLimit(.minutes(5)))
struct WebEndpointTests {
    let testApp = productsDirectory.appendingPathComponent("aloft-test-app").path

    struct Reply {
        let status: Int
        let body: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) }
        var errorMessage: String? { ((json as? [String: Any])?["error"] as? [String: Any])?["message"] as? String }
    }

    /// One request to `path` on `server`'s HTTP port, following redirects (as URLSession does).
    func request(
        _ method: String, _ path: String, body: String? = nil, token: String? = nil, on server: ServerProcess,
        session: URLSession = .shared
    ) async throws -> Reply {
        var request = URLRequest(url: try #require(URL(string: server.httpURL + path)))
        request.httpMethod = method
        request.httpBody = body.map { Data($0.utf8) }
        request.timeoutInterval = 120
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await session.data(for: request)
        return Reply(
            status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: String(decoding: data, as: UTF8.self))
    }

    /// `curl` (from Debian's packages) as a user runs it: the status, the redirect target and the body.
    func curl(_ arguments: [String]) async throws -> String {
        try await runProcess("/usr/bin/curl", arguments: ["-s", "--max-time", "60"] + arguments).stdout
    }

    func deployedServer(
        _ directory: String, arguments: [String] = [], endpointLines: [String]? = nil
    ) async throws -> ServerProcess {
        let server = try await ServerProcess(dataDirectory: directory, arguments: arguments)
        let deployed = try await runProduct(
            "aloft", arguments: ["deploy", "--executable", testApp],
            environment: ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": server.token])
        #expect(deployed.status == 0, "\(deployed.stderr)")
        if let endpointLines {
            for line in endpointLines { #expect(deployed.stdout.contains(line + "\n"), "\(deployed.stdout)") }
            return server
        }
        #expect(
            deployed.stdout.contains("  endpoint web_square: POST \(server.httpURL)/main/fixtures/web_square\n"),
            "\(deployed.stdout)")
        #expect(
            deployed.stdout.contains("  endpoint web_private: GET \(server.httpURL)/main/fixtures/web_private (token)"))
        return server
    }

    @Test("JSON in and out, a query decoded, throws answered with their status, auth, size limits, unknown paths")
    func typedEndpoints() async throws {
        let directory = temporaryPath("aloft-web")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await deployedServer(directory)

        let square = try await request("POST", "/main/fixtures/web_square", body: #"{"x": 12}"#, on: server)
        #expect(square.status == 200)
        #expect((square.json as? [String: Any])?["square"] as? Int == 144, "\(square.body)")
        let greet = try await request("GET", "/main/fixtures/web_greet?name=Ada%20L&times=2", on: server)
        #expect(greet.status == 200)
        #expect(greet.json as? String == "hello Ada L, hello Ada L", "\(greet.body)")

        // A body that throws: a WebEndpointError's status, an AloftError's code's status; an argument that does not
        // decode is the caller's fault.
        let teapot = try await request("POST", "/main/fixtures/web_fail", body: #""teapot""#, on: server)
        #expect(teapot.status == 418)
        #expect(teapot.errorMessage == "I'm a teapot", "\(teapot.body)")
        let missing = try await request("POST", "/main/fixtures/web_fail", body: #""other""#, on: server)
        #expect(missing.status == 404)
        #expect(missing.errorMessage == "no such thing", "\(missing.body)")
        let undecodable = try await request("POST", "/main/fixtures/web_square", body: #"{"y": 1}"#, on: server)
        #expect(undecodable.status == 400, "\(undecodable.body)")
        let badQuery = try await request("GET", "/main/fixtures/web_greet?name=Ada", on: server)
        #expect(badQuery.status == 400, "\(badQuery.body)")

        // Only the declared method; only known endpoints; plain functions are not endpoints.
        #expect(try await request("GET", "/main/fixtures/web_square", on: server).status == 405)
        #expect(try await request("POST", "/main/fixtures/nosuch", body: "1", on: server).status == 404)
        #expect(try await request("POST", "/main/fixtures/square", body: "3", on: server).status == 404)
        #expect(try await request("POST", "/other/fixtures/web_square", body: #"{"x": 1}"#, on: server).status == 404)

        // requiresAuth: no token or a bad one is 401 and the body never runs; the workspace's token passes.
        let anonymous = try await request("GET", "/main/fixtures/web_private", on: server)
        #expect(anonymous.status == 401, "\(anonymous.body)")
        #expect(try await request("GET", "/main/fixtures/web_private", token: "nope", on: server).status == 401)
        let authorized = try await request("GET", "/main/fixtures/web_private", token: server.token, on: server)
        #expect(authorized.status == 200)
        #expect(authorized.json as? String == "secret")

        // A body over the payload limit is refused with 413 before anything runs.
        let huge = String(repeating: "1", count: 3 << 20)
        let tooLarge = try await request("POST", "/main/fixtures/web_square", body: #"{"x": \#(huge)}"#, on: server)
        #expect(tooLarge.status == 413, "\(tooLarge.body.prefix(200))")
        // The API's own routes still answer beside the endpoints' catch-all path.
        #expect(try await server.http("GET", "/v1/calls/fc-nosuch").status == 404)
        #expect(await server.terminate() == 0)
    }

    @Test("raw handlers: every method and subpath, headers and body both ways, a throw's status, auth")
    func rawHandlers() async throws {
        let directory = temporaryPath("aloft-web")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await deployedServer(directory)
        let base = server.httpURL + "/main/fixtures/web_raw"
        let echoed = try await curl([
            "-X", "PUT", "-H", "X-Test: yes", "--data-binary", "hello there", "-D", "-", base + "/items/7?full=1",
        ])
        #expect(echoed.hasPrefix("HTTP/1.1 201"), "\(echoed)")
        #expect(echoed.lowercased().contains("x-echo-method: put\r\n"), "\(echoed)")
        #expect(echoed.lowercased().contains("content-type: text/plain; charset=utf-8\r\n"), "\(echoed)")
        #expect(echoed.hasSuffix("\r\n\r\nPUT /items/7?full=1 yes hello there"), "\(echoed)")
        #expect(try await curl([base]) == "GET / - ")
        #expect(try await curl(["-X", "DELETE", base + "/"]) == "DELETE / - ")

        let teapot = try await request("GET", "/main/fixtures/web_raw/teapot", on: server)
        #expect(teapot.status == 418)
        #expect(teapot.errorMessage == "I'm a teapot", "\(teapot.body)")
        #expect(try await request("GET", "/main/fixtures/web_raw_private", on: server).status == 401)
        let authorized = try await request("GET", "/main/fixtures/web_raw_private", token: server.token, on: server)
        #expect(authorized.status == 200 && authorized.body == "secret", "\(authorized.body)")
        // A typed endpoint has no paths below it.
        #expect(try await request("POST", "/main/fixtures/web_square/more", body: "{}", on: server).status == 404)

        // webURL(): the path form on the server's HTTP address; nil for a function that is no endpoint.
        let controlPlane = RemoteControlPlane(server.address, token: server.token)
        let square = Function<Int, Int>.lookup(app: "fixtures", name: "web_square", controlPlane: controlPlane)
        #expect(try await square.webURL()?.absoluteString == server.httpURL + "/main/fixtures/web_square")
        let plain = Function<Int, Int>.lookup(app: "fixtures", name: "square", controlPlane: controlPlane)
        #expect(try await plain.webURL() == nil)
        #expect(await server.terminate() == 0)
    }

    @Test("with --web-domain, endpoints answer at <workspace>--<app>-<label>.<domain>, and that is their URL")
    func hostForm() async throws {
        let directory = temporaryPath("aloft-web")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await deployedServer(
            directory, arguments: ["--web-domain", "https://aloft.test"],
            endpointLines: [
                "  endpoint web_square: POST https://main--fixtures-web_square.aloft.test",
                "  endpoint web_raw: * https://main--fixtures-web_raw.aloft.test",
            ])
        let square = try await curl([
            "-H", "Host: main--fixtures-web_square.aloft.test", "-X", "POST", "-d", #"{"x": 3}"#, server.httpURL + "/",
        ])
        #expect(square.contains(#""square":9"#), "\(square)")
        let raw = try await curl(["-H", "Host: MAIN--fixtures-web_raw.aloft.test:443", server.httpURL + "/items/1?a=b"])
        #expect(raw == "GET /items/1?a=b - ", "\(raw)")
        let unknown = try await curl([
            "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: main--fixtures-nosuch.aloft.test",
            server.httpURL + "/",
        ])
        #expect(unknown == "404")
        // Other hosts reach the path form and the API as before.
        #expect(try await curl(["-X", "DELETE", server.httpURL + "/main/fixtures/web_raw/x"]) == "DELETE /x - ")
        let controlPlane = RemoteControlPlane(server.address, token: server.token)
        let handler = Function<Int, Int>.lookup(app: "fixtures", name: "web_raw", controlPlane: controlPlane)
        #expect(try await handler.webURL()?.absoluteString == "https://main--fixtures-web_raw.aloft.test")
        #expect(await server.terminate() == 0)
    }

    @Test("a streamed response: Server-Sent Events reach the client while the handler still runs")
    func streamedResponse() async throws {
        let directory = temporaryPath("aloft-web")
        let marker = temporaryPath("aloft-web-marker")
        defer { for path in [directory, marker] { try? FileManager.default.removeItem(atPath: path) } }
        let server = try await deployedServer(directory)
        // The handler sends `two` only once the marker exists, and the reader creates it only when `one` arrived:
        // the response ends only if `one` reached the client before the body ended.
        let lines = try await curlLines([
            "-N", "-D", "-", server.httpURL + "/main/fixtures/web_events?marker=\(marker)",
        ]) {
            line in
            if line == "data: one" { _ = FileManager.default.createFile(atPath: marker, contents: nil) }
        }
        let texts = lines.map(\.text)
        #expect(texts.first?.hasPrefix("HTTP/1.1 200") == true, "\(texts)")
        #expect(texts.contains("content-type: text/event-stream"), "\(texts)")
        let body = Array(texts.drop { $0 != "data: one" })
        #expect(body == ["data: one", "", "data: two", "data: lines", ""], "\(texts)")
        let one = try #require(lines.first { $0.text == "data: one" }?.at)
        let two = try #require(lines.first { $0.text == "data: two" }?.at)
        #expect(one < two)
        #expect(await server.terminate() == 0)
    }

    /// Runs `curl` and reads its output line by line as it arrives, calling `seen` with each; the lines (without
    /// `\r`) with the time each arrived.
    func curlLines(
        _ arguments: [String], seen: @escaping @Sendable (String) -> Void
    ) async throws -> [(text: String, at: ContinuousClock.Instant)] {
        final class Lines: Sendable { let value = Mutex<[(String, ContinuousClock.Instant)]>([]) }
        let lines = Lines()
        let curl = try ChildProcess(
            "/usr/bin/curl", arguments: ["-s", "--max-time", "60"] + arguments,
            onLine: { text in
                lines.value.withLock { $0.append((text, .now)) }
                seen(text)
            })
        try await curl.waitForExit(timeout: .seconds(90))
        return lines.value.withLock { $0 }.map {
            (text: $0.0.lowercased().hasPrefix("content-type") ? $0.0.lowercased() : $0.0, at: $0.1)
        }
    }

    @Test("a request still running after the redirect time is answered 303 to a result URL; curl -L gets the result")
    func redirectChain() async throws {
        let directory = temporaryPath("aloft-web")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await deployedServer(directory, arguments: ["--web-redirect-after", "1"])
        let url = server.httpURL + "/main/fixtures/web_slow?seconds=2.5"
        // Without following: 303 with a Location under /v1/web-results/main/.
        let first = try await curl(["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", url])
        #expect(first.hasPrefix("303 \(server.httpURL)/v1/web-results/main/fc-"), "\(first)")
        // Following: the redirect waits again (and again), then the result.
        let followed = try await curl(["-L", "-w", " %{http_code} %{num_redirects}", url])
        let parts = followed.split(separator: " ")
        #expect(parts.first == #""done""#, "\(followed)")
        #expect(parts.dropFirst().first == "200", "\(followed)")
        #expect(Int(parts.last ?? "") ?? 0 >= 2, "\(followed)")
        // A fast one is answered at once.
        #expect(
            try await curl(["-w", " %{http_code}", server.httpURL + "/main/fixtures/web_slow?seconds=0"])
                == #""done" 200"#)
        #expect(await server.terminate() == 0)
    }

    @Test("a redeploy switches an endpoint to the new version without dropping a request")
    func redeploy() async throws {
        let directory = temporaryPath("aloft-web")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await deployedServer(directory)
        let finished = DoneFlag()
        let redeploy = Task {
            defer { finished.set() }
            return try await runProduct(
                "aloft", arguments: ["deploy", "--executable", testApp],
                environment: [
                    "ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": server.token, "ALOFT_TEST_WEB_VERSION": "2",
                ])
        }
        /// 20 requests at once; the version that answered each.
        func round() async throws -> [String] {
            try await withThrowingTaskGroup(of: Reply.self) { group in
                for x in 0..<20 {
                    group.addTask {
                        try await request("POST", "/main/fixtures/web_square", body: #"{"x": \#(x)}"#, on: server)
                    }
                }
                var versions: [String] = []
                for try await reply in group {
                    #expect(reply.status == 200, "\(reply.body)")
                    versions.append((reply.json as? [String: Any])?["version"] as? String ?? "?")
                }
                return versions
            }
        }
        var during: [String] = []
        repeat { during += try await round() } while !finished.isSet
        let deployed = try await redeploy.value
        #expect(deployed.status == 0, "\(deployed.stderr)")
        #expect(deployed.stdout.contains("version 2"))
        #expect(Set(during).isSubset(of: ["1", "2"]), "\(Set(during))")
        #expect(try await round() == Array(repeating: "2", count: 20))
        #expect(await server.terminate() == 0)
    }

    @Test(
        "1,000 requests, 200 at a time, on an endpoint with maxContainers: 2, maxInputs: 50: all answered, 2 containers"
    )
    func concurrentRequests() async throws {
        let directory = temporaryPath("aloft-web")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await deployedServer(directory, arguments: ["--http-limits", "per-peer=512"])
        let configuration = URLSessionConfiguration.default
        configuration.httpMaximumConnectionsPerHost = 200
        let session = URLSession(configuration: configuration)
        let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
            var replies: [Reply] = []
            for index in 0..<1_000 {
                if index >= 200, let reply = try await group.next() { replies.append(reply) }
                group.addTask {
                    try await request("GET", "/main/fixtures/web_concurrent?ms=50", on: server, session: session)
                }
            }
            for try await reply in group { replies.append(reply) }
            return replies
        }
        #expect(replies.count == 1_000)
        #expect(
            replies.allSatisfy { $0.status == 200 },
            "\(replies.first { $0.status != 200 }.map { "\($0.status) \($0.body)" } ?? "")")
        let containers = Set(replies.compactMap { $0.json as? Int })
        #expect((1...2).contains(containers.count), "\(containers)")
        #expect(await server.terminate() == 0)
    }
}

/// Set once, read from any task.
final class DoneFlag: Sendable {
    private let state = Mutex(false)
    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}
