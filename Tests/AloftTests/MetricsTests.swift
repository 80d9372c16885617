import Aloft
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `/metrics` on a real server: Prometheus's text, read with a token of workspace `main` only.
@Suite("Metrics", .serialized, .timeLimit(.minutes(3)))
struct MetricsTests {
    /// Every sample of `text` as `name{labels}` → value.
    func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    func scrape(_ server: ServerProcess, token: String? = nil) async throws -> (status: Int, text: String) {
        var request = URLRequest(url: try #require(URL(string: server.httpURL + "/metrics")))
        request.setValue("Bearer \(token ?? server.token)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test(
        "inputs started, succeeded, failed and retried, durations, queue waits, cold starts, containers and HTTP requests"
    )
    func counted() async throws {
        let directory = temporaryPath("aloft-metrics")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let app = server.app("fixtures")
        let square: Function<Int, Int> = app.lookup("square")
        for x in 1...3 { #expect(try await square.remote(x) == x * x) }
        let retried: Function<Attempt, Int> = app.lookup(
            "count_attempts", options: FunctionOptions(retries: Retries(maxRetries: 2, initialDelay: .zero)))
        let path = temporaryPath("aloft-metrics-attempts")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try await retried.remote(Attempt(path: path, succeedOn: 2)) == 2)
        let failing: Function<String, Int> = app.lookup("fail_plain")
        _ = try? await failing.remote("x")
        let reply = try await server.http("GET", "/v1/apps")  // one HTTP request to count
        #expect(reply.status == 200)

        let (status, text) = try await scrape(server)
        #expect(status == 200, "\(text)")
        let values = samples(text)
        func value(_ name: String, _ function: String) -> Double? {
            values["\(name){workspace=\"main\",app=\"fixtures\",function=\"\(function)\"}"]
        }
        #expect(value("aloft_inputs_started_total", "square") == 3, "\(text)")
        #expect(value("aloft_inputs_succeeded_total", "square") == 3)
        #expect(value("aloft_input_duration_seconds_count", "square") == 3)
        #expect(value("aloft_input_queue_wait_seconds_count", "square") == 3)
        #expect(value("aloft_cold_starts_total", "square") == 1)
        #expect((value("aloft_cold_start_duration_seconds_sum", "square") ?? 0) > 0)
        #expect(value("aloft_inputs_started_total", "count_attempts") == 2)
        #expect(value("aloft_inputs_retried_total", "count_attempts") == 1)
        #expect(value("aloft_inputs_succeeded_total", "count_attempts") == 1)
        #expect(value("aloft_inputs_failed_total", "fail_plain") == 1)
        #expect(value("aloft_backlog", "square") == 0 && value("aloft_containers", "square") == 1)
        #expect(values["aloft_worker_hosts"] == 0 && values["aloft_host_containers{host=\"local\"}"] == 3)
        #expect((values["aloft_store_write_duration_seconds_count"] ?? 0) > 0)
        #expect(
            text.contains(
                "hb_requests{http_route=\"/v1/apps\",http_request_method=\"GET\",http_response_status_code=\"200\"} 1"))

        // Another workspace's token reads none of it.
        let token = try await runProduct(
            "aloft", arguments: ["token", "new", "--workspace", "other", "--data-dir", directory]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let refused = try await scrape(server, token: token)
        #expect(refused.status == 401 && refused.text.contains("workspace main"), "\(refused)")
        #expect(try await scrape(server, token: "wrong").status == 401)
        #expect(await server.terminate() == 0)
    }
}
