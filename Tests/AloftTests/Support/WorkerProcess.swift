import Aloft
import Foundation

/// An `aloft worker` process (optionally in a network namespace), connected once `init` returns; killed when the
/// last reference to it goes.
final class WorkerProcess: Sendable {
    private let child: ChildProcess
    /// Its `--name`.
    let name: String

    /// Starts it and waits (at most 30 s) until it says it connected, unless its output goes to `standardOutput`.
    /// Its containers are plain processes unless `isolation` says otherwise; `extra` arguments follow the others.
    init(
        server: ServerProcess, token: String, name: String, cacheDirectory: String, namespace: String? = nil,
        serverAddress: String? = nil, apiURL: String? = nil, maxContainers: Int = 2, isolation: String = "none",
        arguments extra: [String] = [], standardOutput: FileHandle? = nil
    ) async throws {
        self.name = name
        let arguments =
            [
                "worker", "--server", serverAddress ?? server.address, "--api", apiURL ?? server.httpURL, "--token",
                token,
                "--name", name, "--cache-dir", cacheDirectory, "--max-containers", String(maxContainers), "--log-level",
                "warning", "--isolation", isolation,
            ] + extra
        let aloft = productsDirectory.appendingPathComponent("aloft").path
        child = try ChildProcess(
            namespace == nil ? aloft : "/usr/sbin/ip",
            arguments: namespace.map { ["netns", "exec", $0, aloft] + arguments } ?? arguments,
            standardOutput: standardOutput.map { .handle($0) } ?? .collect, standardError: .inherit)
        if standardOutput == nil { try await child.waitForOutput("connected to") }
    }

    /// What it printed: its own lines and its containers' output.
    var printed: String { child.stdout }
    var isRunning: Bool { child.isRunning }

    /// SIGKILL; returns once it has ended.
    func kill() async { await child.kill() }

    func pause() { child.signal(SIGSTOP) }
    func resume() { child.signal(SIGCONT) }
}

/// A new worker token of `workspace` (the server's default when nil), made with `aloft token new --kind worker` in
/// a server's data directory.
func newWorkerToken(dataDirectory: String, workspace: String? = nil) async throws -> String {
    let arguments =
        ["token", "new", "--kind", "worker"] + (workspace.map { ["--workspace", $0] } ?? []) + [
            "--data-dir", dataDirectory,
        ]
    return try await runProduct("aloft", arguments: arguments).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}
