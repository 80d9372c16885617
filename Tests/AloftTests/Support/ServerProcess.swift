import Aloft
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A running `aloft server` on a free port.
final class ServerProcess: Sendable {
    private let child: ChildProcess
    /// `host:port` it listens on.
    let address: String
    /// `http://host:port` of its HTTP API.
    let httpURL: String
    /// The client token (workspace `main`) it made on its first start.
    let token: String

    /// Starts it and waits (at most 30 s) until it listens. Its containers are plain processes (`--isolation none`:
    /// the tests share files with them) unless `arguments` name an isolation.
    /// - Parameter standardError: a file for its logs (default: this process's standard error).
    /// - Parameter launcher: a command that runs it (`setpriv … --`), and `executable` another copy of `aloft`.
    init(
        dataDirectory: String, arguments: [String] = [], standardError: String? = nil,
        environment: [String: String] = [:], launcher: [String] = [], executable: String? = nil
    ) async throws {
        // Its standard output is collected: the first line says where it listens, and its containers' output
        // follows.
        let command =
            launcher + [executable ?? productsDirectory.appendingPathComponent("aloft").path, "server"]
            + ["--port", "0", "--http-port", "0", "--data-dir", dataDirectory, "--log-level", "warning"]
            + (arguments.contains("--isolation") ? [] : ["--isolation", "none"]) + arguments
        child = try ChildProcess(
            command[0], arguments: Array(command.dropFirst()), environment: environment,
            standardError: standardError.map { .file($0) } ?? .inherit)
        // "aloft server listening on HOST:PORT, HTTP API on URL (data in DIR)".
        try await child.waitForOutput("\n")
        let text = String(child.stdout.prefix { $0 != "\n" })
        func word(after marker: String) throws -> String {
            guard let range = text.range(of: marker) else {
                throw AloftError(.protocolError, "unexpected first line from aloft server: \(text)")
            }
            return String(text[range.upperBound...].prefix { $0 != "," && $0 != " " })
        }
        address = try word(after: "listening on ")
        httpURL = try word(after: "HTTP API on ")
        let tokenFile = (dataDirectory as NSString).appendingPathComponent("client-token")
        token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var pid: Int32 { child.pid }

    /// An app that reaches this server with `token` (default: the server's first token); its containers run
    /// `aloft-test-app`.
    func app(_ name: String, token: String? = nil) -> App {
        App(
            name, controlPlane: RemoteControlPlane(address, token: token ?? self.token),
            configuration: fixtures.configuration)
    }

    /// Deploys `aloft-test-app` (its apps, `fixtures` among them) with `aloft deploy`, and expects it to succeed.
    func deployTestApp() async throws {
        let deployed = try await runProduct(
            "aloft",
            arguments: ["deploy", "--executable", productsDirectory.appendingPathComponent("aloft-test-app").path],
            environment: ["ALOFT_API_URL": httpURL, "ALOFT_TOKEN": token])
        #expect(deployed.status == 0, "\(deployed.stderr)")
    }

    /// A Server-Sent Events stream of its HTTP port at `path`, read by curl as it arrives (`headers` as `Name: value`).
    func events(_ path: String, headers: [String]) throws -> ChildProcess {
        try ChildProcess(
            "/usr/bin/curl",
            arguments: ["-sN", "-H", "Accept: text/event-stream"] + headers.flatMap { ["-H", $0] } + [httpURL + path])
    }

    /// The `id:` of each event in a Server-Sent Events text that has one.
    static func eventIDs(_ text: String) -> [UInt64] {
        text.components(separatedBy: "\n\n").compactMap { event in
            event.split(separator: "\n").first { $0.hasPrefix("id: ") }.flatMap { UInt64($0.dropFirst(4)) }
        }
    }

    /// The dashboard's page of `app`, as a browser logged in with the server's first token gets it.
    func dashboardPage(app: String) async throws -> String {
        var request = URLRequest(url: try #require(URL(string: httpURL + "/dashboard/apps/\(app)")))
        request.setValue("aloft_token=\(token)", forHTTPHeaderField: "Cookie")
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        return String(decoding: data, as: UTF8.self)
    }

    /// The CPU seconds and MiB of memory the dashboard shows for `container`, if it shows them.
    func dashboardUsage(app: String, container: String) async throws -> (cpuSeconds: Double, memoryMiB: Int)? {
        let page = try await dashboardPage(app: app)
        guard let row = page.components(separatedBy: "<tr").first(where: { $0.contains(container) }),
            let cpu = row.components(separatedBy: "CPU ").dropFirst().first?.split(separator: " ").first,
            let memory = row.components(separatedBy: " MiB memory").first?.split(separator: " ").last
        else { return nil }
        return Double(cpu).flatMap { cpu in Int(memory).map { (cpu, $0) } }
    }

    struct Reply {
        let status: Int
        let json: [String: Any]
    }

    /// An HTTP request to its API at `path`, with `token` (default: the server's first) as a bearer token, or none
    /// when `anonymous`.
    func http(
        _ method: String, _ path: String, body: String? = nil, token: String? = nil, anonymous: Bool = false
    ) async throws -> Reply {
        var request = URLRequest(url: try #require(URL(string: httpURL + path)))
        request.httpMethod = method
        request.httpBody = body.map { Data($0.utf8) }
        if !anonymous { request.setValue("Bearer \(token ?? self.token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        return Reply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, json: object as? [String: Any] ?? [:])
    }

    /// SIGKILL: a crash. Returns once it has ended.
    func kill() async { await child.kill() }

    /// SIGTERM, then waits (at most 30 s, then SIGKILL: a server that does not stop fails the test, not the run);
    /// returns the exit status.
    func terminate() async -> Int32 {
        child.signal(SIGTERM)
        do {
            return try await child.waitForExit(timeout: .seconds(30))
        } catch {
            Issue.record("aloft server did not stop within 30 s of SIGTERM")
            return -1
        }
    }
}
