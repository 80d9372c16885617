import Aloft
import AloftTestFixtures
import Foundation
import Testing

/// A real server exporting its spans over OTLP/HTTP (AloftOTLP, JSON) to a receiver in the test.
@Suite("Tracing", .serialized, .timeLimit(.minutes(3)))
struct TracingTests {
    /// One span as the receiver printed it.
    struct ReceivedSpan {
        let name, trace, id, parent: String
        let attributes: [String: String]
        let isError: Bool

        init?(_ line: String) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let name = object["name"] as? String, let trace = object["trace"] as? String,
                let id = object["span"] as? String
            else { return nil }
            self.name = name
            self.trace = trace
            self.id = id
            parent = object["parent"] as? String ?? ""
            attributes = (object["attrs"] as? [String: Any] ?? [:]).mapValues { "\($0)" }
            isError =
                (object["status"] as? [String: Any])?["code"].map { "\($0)" }.map { $0 == "2" || $0.contains("ERROR") }
                ?? false
        }
    }

    /// An OTLP/HTTP receiver (JSON): prints `port N ready`, then one line per span it is sent.
    static let receiver = """
        import http.server, json
        class Receiver(http.server.BaseHTTPRequestHandler):
            def body(self):
                if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
                    data = b''
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get('Content-Length', 0)))
            def do_POST(self):
                data = json.loads(self.body() or b'{}')
                for resource in data.get('resourceSpans', []):
                    for scope in resource.get('scopeSpans', []):
                        for span in scope.get('spans', []):
                            attributes = {a['key']: list(a['value'].values())[0] for a in span.get('attributes', [])}
                            print(json.dumps({'name': span.get('name'), 'trace': span.get('traceId'),
                                              'span': span.get('spanId'), 'parent': span.get('parentSpanId', ''),
                                              'attrs': attributes, 'status': span.get('status', {})}), flush=True)
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', '2')
                self.end_headers()
                self.wfile.write(b'{}')
            def log_message(self, *arguments):
                pass
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Receiver)
        print('port', server.server_address[1], 'ready', flush=True)
        server.serve_forever()
        """

    @Test(
        "a call's span holds its queue waits, runs, retries and cold start; a call made in a body continues the run's trace"
    )
    func spans() async throws {
        let receiver = try ChildProcess("/usr/bin/python3", arguments: ["-c", Self.receiver])
        defer { Task { await receiver.kill() } }
        try await receiver.waitForOutput(" ready")  // the whole line is there
        let port = try #require(
            receiver.stdout.split(separator: "\n").first { $0.hasPrefix("port ") }.flatMap {
                Int($0.split(separator: " ")[1])
            })
        let directory = temporaryPath("aloft-tracing")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(
            dataDirectory: directory, arguments: ["--otlp-endpoint", "http://127.0.0.1:\(port)"],
            environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "100"])
        let app = server.app("fixtures")
        // A blocking body that calls `square` with the blocking form, an async one that calls with the async form.
        let blockingCaller: Function<Int, Int> = app.lookup("blocking_caller")
        #expect(try await blockingCaller.remote(3) == 10)
        let asyncFunction: Function<NoArguments, Int> = app.lookup("async_function")
        #expect(try await asyncFunction.remote() == 420)
        let path = temporaryPath("aloft-tracing-attempts")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let retried: Function<Attempt, Int> = app.lookup(
            "count_attempts", options: FunctionOptions(retries: Retries(maxRetries: 2, initialDelay: .zero)))
        #expect(try await retried.remote(Attempt(path: path, succeedOn: 2)) == 2)

        for name in ["square call", "blocking_function call", "count_attempts call", "retry"] {
            try await receiver.waitForOutput("\"name\": \"\(name)\"")
        }
        let spans = receiver.stdout.split(separator: "\n").compactMap { ReceivedSpan(String($0)) }
        func children(of parent: ReceivedSpan, named name: String) -> [ReceivedSpan] {
            spans.filter { $0.parent == parent.id && $0.name == name && $0.trace == parent.trace }
        }
        func call(_ function: String) throws -> ReceivedSpan {
            try #require(spans.first { $0.name == "\(function) call" }, "\(receiver.stdout)")
        }

        // The test's caller has no tracer: the control plane's call span starts the trace.
        let outer = try call("blocking_caller")
        #expect(outer.parent.isEmpty && outer.attributes["aloft.function"] == "blocking_caller")
        #expect(outer.attributes["aloft.call_kind"] == "remote" && !outer.isError)
        #expect(children(of: outer, named: "queue wait").count == 1)
        #expect(children(of: outer, named: "container start").count == 1, "a cold start: \(receiver.stdout)")
        let run = try #require(children(of: outer, named: "run").first)
        #expect(
            run.attributes["aloft.container_id"]?.hasPrefix("ctr-") == true && run.attributes["aloft.attempt"] == "1")
        // The body's blocking call continues the run's trace, in another container.
        let inner = try call("square")
        #expect(inner.parent == run.id && inner.trace == outer.trace, "\(receiver.stdout)")
        let innerRun = try #require(children(of: inner, named: "run").first)
        #expect(innerRun.attributes["aloft.container_id"] != run.attributes["aloft.container_id"])

        // The async form too.
        let asyncOuter = try call("async_function")
        let asyncRun = try #require(children(of: asyncOuter, named: "run").first)
        let asyncInner = try call("blocking_function")
        #expect(asyncInner.parent == asyncRun.id && asyncInner.trace == asyncOuter.trace)

        // A retry: the first run failed, a second queue wait and a retry that succeeded.
        let attempts = try call("count_attempts")
        let firstRun = try #require(children(of: attempts, named: "run").first)
        let retry = try #require(children(of: attempts, named: "retry").first)
        #expect(firstRun.isError && !retry.isError, "\(receiver.stdout)")
        #expect(retry.attributes["aloft.attempt"] == "2")
        #expect(
            Set(children(of: attempts, named: "queue wait").compactMap { $0.attributes["aloft.attempt"] }) == [
                "1", "2",
            ])
        #expect(await server.terminate() == 0)
    }
}
