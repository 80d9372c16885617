import Aloft
import AloftTestFixtures
import Foundation
import Testing

/// Boxed containers without root: `aloft server --isolation bwrap` run as `nobody` boxes its containers in user
/// namespaces. The test needs root to arrange that (a copy of the executables `nobody` can run, a data directory it
/// owns); `.ci/run` requires it with the isolation suite.
@Suite("Boxes without root (user namespaces)", .serialized, .timeLimit(.minutes(3)), .enabled(if: BoxHost.available))
struct UserNamespaceTests {
    static let nobody: UInt32 = 65_534

    @Test(
        "a server without root boxes containers in user namespaces: the data directory and the server's processes stay hidden, a fork bomb stops at the pids limit, and the log says memory and CPU are not limited"
    )
    func boxesWithoutRoot() async throws {
        let directory = temporaryPath("aloft-userns")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        #expect(chmod(directory, 0o755) == 0 && chown(data, Self.nobody, Self.nobody) == 0)
        for product in ["aloft", "aloft-test-app"] {
            try FileManager.default.copyItem(
                atPath: productsDirectory.appendingPathComponent(product).path, toPath: "\(directory)/\(product)")
        }
        let log = directory + "/server.log"
        let server: ServerProcess
        do {
            server = try await ServerProcess(
                dataDirectory: data, arguments: ["--isolation", "bwrap", "--container-pids", "64"],
                standardError: log,
                launcher: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"],
                executable: directory + "/aloft")
        } catch {
            // Its standard error went to the log: say what it said.
            let said = (try? String(contentsOfFile: log, encoding: .utf8)) ?? "(no log)"
            Issue.record("the server did not start: \(error); its log: \(said)")
            return
        }
        let logged = try String(contentsOfFile: log, encoding: .utf8)
        #expect(logged.contains("bubblewrap in a user namespace"), "\(logged)")
        #expect(logged.contains("WITHOUT memory or CPU limits"), "\(logged)")
        let deployed = try await runProduct(
            "aloft", arguments: ["deploy", "--executable", directory + "/aloft-test-app"],
            environment: ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": server.token])
        #expect(deployed.status == 0, "\(deployed.stderr)")
        let controlPlane = RemoteControlPlane(server.address, token: server.token)

        let probe = Function<BoxProbeRequest, BoxProbeReport>.lookup(
            app: "fixtures", name: "box_probe", controlPlane: controlPlane)
        let secrets = [data + "/client-token", data + "/aloft.sqlite", data + "/lock", "/root"]
        let report = try await probe.remote(BoxProbeRequest(read: secrets, signal: [server.pid]))
        let missing = String(cString: strerror(ENOENT))
        #expect(secrets.allSatisfy { report.read[$0] == missing }, "\(report.read)")
        #expect(report.signal[server.pid] == String(cString: strerror(ESRCH)), "\(report.signal)")
        #expect(report.visibleProcesses.count <= 4, "\(report.visibleProcesses)")
        #expect(report.uid >= 200_000 && report.hostname == report.containerID, "\(report)")

        let bomb = Function<Double, ForkBombReport>.lookup(
            app: "fixtures", name: "fork_bomb", controlPlane: controlPlane)
        let bombed = try await bomb.remote(2)
        #expect(bombed.processes <= 64, "\(bombed)")
        let square = Function<Int, Int>.lookup(app: "fixtures", name: "square", controlPlane: controlPlane)
        #expect(try await square.remote(12) == 144)
        #expect(await server.terminate() == 0)
        // The server stopped: nothing of the bomb's box is left.
        #expect(try await eventually { Self.processes(of: Self.nobody, matching: "bomb").isEmpty })
    }

    /// Processes of `uid` whose command line contains `text`.
    static func processes(of uid: UInt32, matching text: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            var status = stat()
            guard stat("/proc/\(pid)", &status) == 0, status.st_uid == uid,
                let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { return false }
            return String(decoding: command, as: UTF8.self).contains(text)
        }
    }
}
