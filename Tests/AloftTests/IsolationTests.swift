import Aloft
import AloftControlPlane
import Foundation
import Testing

/// Boxed containers (`aloft server --isolation bwrap`): what a container can see and do, and its limits, with real
/// processes, bubblewrap and cgroups. Needs root, bwrap and cgroups; skipped elsewhere (`.ci/run` requires it:
/// `ALOFT_REQUIRE_ISOLATION=1`).
@Suite("Isolation (bubblewrap and cgroups)", .serialized, .timeLimit(.minutes(5)), .enabled(if: BoxHost.available))
struct IsolationTests {
    let probe = "box_probe"

    @Test(
        "a boxed container sees none of the server's files, processes or other containers, and runs as a uid of its own"
    )
    func hidesTheHost() async throws {
        try await BoxHost.withServer { server, directory in
            let app = server.app("fixtures")
            // A file of the host's own /tmp, readable by anyone there.
            let hostFile = temporaryPath("aloft-host-file")
            try "host".write(toFile: hostFile, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: hostFile) }
            let httpPort = try #require(server.httpURL.split(separator: ":").last.map(String.init))

            // Two containers (two functions), the first still running (warm) when the second probes it.
            let first: Function<BoxProbeRequest, BoxProbeReport> = app.lookup(probe)
            let firstReport = try await first.remote(BoxProbeRequest())
            let firstHostPIDs = BoxHost.processes(ofContainer: firstReport.containerID)
            #expect(!firstHostPIDs.isEmpty, "the first container's cgroup lists its processes")
            let second: Function<BoxProbeRequest, BoxProbeReport> = app.lookup("box_probe_other")
            let secrets = [
                directory + "/aloft.sqlite", directory + "/client-token", directory + "/secret-key",
                directory + "/artifacts", hostFile, "/root", "/etc/shadow",
            ]
            let report = try await second.remote(
                BoxProbeRequest(
                    read: secrets, signal: [server.pid] + firstHostPIDs, connect: ["127.0.0.1:\(httpPort)"]))

            for path in secrets.dropLast() {
                #expect(report.read[path] == String(cString: strerror(ENOENT)), "\(path): \(report.read[path] ?? "")")
            }
            #expect(report.read["/etc/shadow"] == String(cString: strerror(EACCES)), "root-only files stay so")
            for pid in [server.pid] + firstHostPIDs {
                #expect(
                    report.signal[pid] == String(cString: strerror(ESRCH)), "pid \(pid): \(report.signal[pid] ?? "")")
            }
            #expect(report.uid >= 200_000 && firstReport.uid >= 200_000 && report.uid != firstReport.uid)
            #expect(report.pid < 10 && report.visibleProcesses.count <= 3, "its own PID namespace: \(report)")
            #expect(report.hostname == report.containerID)
            #expect(report.workingDirectory == "/tmp" && report.wroteInWorkingDirectory)
            #expect(report.connect["127.0.0.1:\(httpPort)"] == "ok", "the network is shared unless blocked")
        }
    }

    @Test("blockNetwork: true leaves a container no network but its connection to the control plane")
    func blockNetwork() async throws {
        try await BoxHost.withServer { server, _ in
            let httpPort = try #require(server.httpURL.split(separator: ":").last.map(String.init))
            let blocked: Function<BoxProbeRequest, BoxProbeReport> = server.app("fixtures").lookup(
                probe, options: FunctionOptions(blockNetwork: true))
            let report = try await blocked.remote(BoxProbeRequest(connect: ["127.0.0.1:\(httpPort)"]))
            let outcome = try #require(report.connect["127.0.0.1:\(httpPort)"])
            #expect(outcome != "ok", "connected to the server's HTTP port from a blocked box")
        }
    }

    @Test(
        "a boxed container gets its GPUs in CUDA_VISIBLE_DEVICES, and may open only its box's device nodes and its GPUs' (cgroup v1 devices)",
        .enabled(if: FileManager.default.fileExists(atPath: "/sys/fs/cgroup/devices/cgroup.procs"))
    )
    func devices() async throws {
        try await BoxHost.withServer(arguments: ["--gpus", "H100:3"]) { server, _ in
            let gpus: Function<Double, String> = server.app("fixtures").lookup(
                "where_two_h100", options: FunctionOptions(gpu: "H100:2"))
            let call = try await gpus.spawn(5)
            // While it runs: the rules of the one container group under this server's devices hierarchy.
            let parent = "/sys/fs/cgroup/devices/aloft/p\(server.pid)"
            var rules: [String] = []
            #expect(
                try await eventually {
                    let groups = ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).filter {
                        $0.hasPrefix("ctr-")
                    }
                    rules =
                        groups.first.flatMap { readKernelFile("\(parent)/\($0)/devices.list") }?.split(
                            separator: "\n"
                        ).map(String.init) ?? []
                    return !rules.isEmpty
                })
            #expect(!rules.contains("a *:* rwm"), "\(rules)")
            #expect(rules.contains("c 195:0 rw") && rules.contains("c 195:1 rw"), "\(rules)")
            #expect(!rules.contains("c 195:2 rw") && rules.contains("c 1:3 rwm"), "\(rules)")
            #expect(try await call.get() == "server gpus=0,1")
        }
    }

    @Test("a container over its memory limit fails its input with outOfMemory, naming the limit; the next call works")
    func memoryLimit() async throws {
        try await BoxHost.withServer { server, _ in
            let allocate: Function<Int, Int> = server.app("fixtures").lookup(
                "allocate_mib", options: FunctionOptions(memory: .init(request: 64, limit: 64)))
            let error = await aloftError { try await allocate.remote(256) }
            #expect(error?.code == .outOfMemory, "\(String(describing: error))")
            #expect(error?.message.contains("64 MiB") == true, "\(String(describing: error))")
            let small = try await allocate.remote(8)
            #expect(small == 8, "a fresh container runs the next call")
        }
    }

    @Test("a CPU limit of half a core throttles a busy loop (the kernel counts the periods) and never gives it more")
    func cpuLimit() async throws {
        try await BoxHost.withServer { server, _ in
            let busy: Function<Double, BusyReport> = server.app("fixtures").lookup(
                "busy_loop", options: FunctionOptions(cpu: .init(request: 0.5, limit: 0.5)))
            // A loaded machine may give the loop less than its limit, never more. That the limit is what held it back
            // is the kernel's own count of the periods it throttled; a machine so loaded that the loop never reached
            // half a core in a period throttles nothing, so the loop runs again (in the same, warm container) until
            // the kernel has throttled it, for a minute at most.
            let before = ContinuousClock.now
            var report = try await busy.remote(2)
            var throttled = 0
            var runs = 1
            while true {
                let share = report.cpuSeconds / report.wallSeconds
                #expect(share < 0.7, "busy loop got \(share) of a core: \(report)")
                throttled = try #require(BoxHost.throttledPeriods(ofContainer: report.containerID))
                if throttled > 0 || ContinuousClock.now - before > .seconds(60) { break }
                let next = try await busy.remote(2)
                #expect(next.containerID == report.containerID, "the warm container runs the next loop")
                report = next
                runs += 1
            }
            let elapsed = ContinuousClock.now - before
            #expect(throttled > 0, "never throttled in \(runs) runs of the loop")
            // The cgroup's own account, over the container's whole life (its start included).
            let used = try #require(BoxHost.cpuSeconds(ofContainer: report.containerID))
            let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            #expect(used >= report.cpuSeconds * 0.9 && used < 0.7 * wall + 0.5, "cgroup: \(used) s in \(wall) s")
            // The dashboard shows the box's cgroup's account: the CPU time of the loop, and memory.
            let shown = try #require(try await server.dashboardUsage(app: "fixtures", container: report.containerID))
            #expect(shown.cpuSeconds >= report.cpuSeconds * 0.9 && shown.memoryMiB >= 1, "\(shown)")
        }
    }

    @Test(
        "a worker host boxes its containers too, with the limits of the deployed function: outOfMemory comes back from it"
    )
    func onWorkerHost() async throws {
        try await BoxHost.withServer(arguments: ["--local-worker", "off"]) { server, directory in
            let token = try await newWorkerToken(dataDirectory: directory)
            let cache = directory + "-cache"
            defer { try? FileManager.default.removeItem(atPath: cache) }
            let worker = try await WorkerProcess(
                server: server, token: token, name: "boxed", cacheDirectory: cache, isolation: "bwrap")
            try await server.deployTestApp()
            let controlPlane = RemoteControlPlane(server.address, token: server.token)
            let probe = Function<BoxProbeRequest, BoxProbeReport>.lookup(
                app: "fixtures", name: "box_probe", controlPlane: controlPlane)
            // Beside the executables the worker fetched: shown in the box is the executable, not its folder.
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            try "worker's".write(toFile: cache + "/beside", atomically: true, encoding: .utf8)
            let report = try await probe.remote(
                BoxProbeRequest(read: [cache + "/beside", directory + "/client-token"]))
            #expect(report.uid >= 200_000 && report.hostname == report.containerID, "\(report)")
            #expect(report.read.values.allSatisfy { $0 == String(cString: strerror(ENOENT)) }, "\(report.read)")
            // Idle past the time a pool thread that started it may retire: a box dies with the thread that forked
            // it (bubblewrap's --die-with-parent), so it must be one that lives as long as the box.
            try await Task.sleep(for: .seconds(8))
            let later = try await probe.remote(BoxProbeRequest())
            #expect(later.containerID == report.containerID, "the container did not outlive 8 idle seconds")
            let allocate = Function<Int, Int>.lookup(
                app: "fixtures", name: "allocate_mib_limited", controlPlane: controlPlane)
            let error = await aloftError { try await allocate.remote(256) }
            #expect(error?.code == .outOfMemory, "\(String(describing: error))")
            #expect(error?.message.contains("64 MiB") == true, "\(String(describing: error))")
            // Without a network, on the worker host: its box cannot dial the server's HTTP port, yet its input and
            // result pass (through the worker's relay socket).
            let offline = Function<BoxProbeRequest, BoxProbeReport>.lookup(
                app: "fixtures", name: "box_probe_offline", controlPlane: controlPlane)
            let http = try #require(server.httpURL.split(separator: ":").last.map(String.init))
            let blocked = try await offline.remote(BoxProbeRequest(connect: ["127.0.0.1:\(http)"]))
            #expect(blocked.connect["127.0.0.1:\(http)"] != "ok", "\(blocked.connect)")
            #expect(blocked.uid >= 200_000, "\(blocked)")
            #expect(worker.isRunning)  // --local-worker off: the worker ran them all
        }
    }

    @Test("a fork bomb stops at the pids limit; the server stays responsive and the box is cleared away at the end")
    func forkBomb() async throws {
        var bombContainer = ""
        try await BoxHost.withServer(arguments: ["--container-pids", "64"]) { server, _ in
            let app = server.app("fixtures")
            let bomb: Function<Double, ForkBombReport> = app.lookup(
                "fork_bomb", options: FunctionOptions(cpu: .init(request: 0.25, limit: 0.5)))
            let report = try await bomb.remote(2)
            bombContainer = report.containerID
            #expect(report.processes <= 64, "\(report)")
            // Forks were refused at the limit (the cgroup counts them), and the box is still there, bomb included.
            let refused = BoxHost.pidsLimitHits(ofContainer: report.containerID)
            #expect(refused > 0, "no fork was refused by the pids limit")
            let square: Function<Int, Int> = app.lookup("square")
            #expect(try await square.remote(12) == 144)
        }
        // The server stopped: the bomb's container, its cgroup and every process in it are gone.
        let gone = try await eventually(timeout: .seconds(30)) { !BoxHost.hasCgroup(bombContainer) }
        #expect(gone, "the cgroup of \(bombContainer) is still there")
    }
}

/// Availability check that fails a CI run where the isolation suite would be skipped.
@Suite("Isolation availability")
struct BoxHostAvailabilityTests {
    @Test(
        "root, bwrap, setpriv and cgroups are there for the isolation suite",
        .enabled(if: ProcessInfo.processInfo.environment["ALOFT_REQUIRE_ISOLATION"] == "1"))
    func available() {
        #expect(BoxHost.available, "\(BoxHost.unavailableReason ?? "")")
    }
}

/// This host as the isolation tests use it.
enum BoxHost {
    static let unavailableReason: String? = {
        switch SandboxContainerRuntime.make() {
        case .success: nil
        case .failure(let error): error.message
        }
    }()
    static var available: Bool { unavailableReason == nil }

    /// Runs `body` with a server that boxes its containers, then stops the server.
    static func withServer(
        arguments: [String] = [], _ body: (ServerProcess, String) async throws -> Void
    ) async throws {
        let directory = temporaryPath("aloft-box")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory, arguments: ["--isolation", "bwrap"] + arguments)
        do {
            try await body(server, directory)
        } catch {
            _ = await server.terminate()
            throw error
        }
        #expect(await server.terminate() == 0)
    }

    /// The directories of container `id`'s cgroup (`aloft/p<server pid>/<id>`): in each v1 hierarchy, or in the
    /// unified one.
    static func cgroupDirectories(_ id: String) -> [String] {
        let root = "/sys/fs/cgroup"
        let parents =
            FileManager.default.fileExists(atPath: root + "/cgroup.controllers")
            ? [root + "/aloft"] : ["memory", "cpu", "pids", "cpuacct", "devices"].map { "\(root)/\($0)/aloft" }
        return parents.flatMap { parent in
            ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).filter { $0.hasPrefix("p") }.map {
                "\(parent)/\($0)/\(id)"
            }
        }
    }

    static func hasCgroup(_ id: String) -> Bool {
        cgroupDirectories(id).contains { FileManager.default.fileExists(atPath: $0) }
    }

    /// The host pids in container `id`'s cgroup.
    static func processes(ofContainer id: String) -> [Int32] {
        let lists = cgroupDirectories(id).compactMap { readKernelFile($0 + "/cgroup.procs") }
        return Array(Set(lists.flatMap { $0.split(separator: "\n").compactMap { Int32($0) } })).sorted()
    }

    /// Forks refused to container `id` at its pids limit (`max` in its cgroup's `pids.events`).
    static func pidsLimitHits(ofContainer id: String) -> Int {
        for directory in cgroupDirectories(id) {
            guard let text = readKernelFile(directory + "/pids.events") else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("max ") {
                return Int(line.dropFirst("max ".count)) ?? 0
            }
        }
        return 0
    }

    /// CPU seconds container `id` has used, as its cgroup accounts them.
    static func cpuSeconds(ofContainer id: String) -> Double? {
        for directory in cgroupDirectories(id) {
            if let text = readKernelFile(directory + "/cpuacct.usage"),
                let nanoseconds = Double(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return nanoseconds / 1e9
            }
            if let text = readKernelFile(directory + "/cpu.stat"),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("usage_usec ") }),
                let microseconds = Double(line.dropFirst("usage_usec ".count))
            {
                return microseconds / 1e6
            }
        }
        return nil
    }

    /// The CFS periods in which the container's cgroup ran out of its CPU quota (`nr_throttled`, v1 and v2 alike).
    static func throttledPeriods(ofContainer id: String) -> Int? {
        for directory in cgroupDirectories(id) {
            if let text = readKernelFile(directory + "/cpu.stat"),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("nr_throttled ") }),
                let periods = Int(line.dropFirst("nr_throttled ".count))
            {
                return periods
            }
        }
        return nil
    }
}

/// A cgroupfs file to its end (they report a size of 0; `String(contentsOfFile:)` reads one page of them).
private func readKernelFile(_ path: String) -> String? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    return (try? handle.readToEnd()).map { String(decoding: $0, as: UTF8.self) }
}
