// Functions that probe the box a container runs in (IsolationTests). Declared from main.swift through
// `declareBoxFunctions`: a global outside main.swift would be lazy, and so unknown to a container.
import Aloft
import AloftTestFixtures
import Foundation

func declareBoxFunctions(on app: App) {
    // Two names for one body: two functions, so two containers.
    for name in ["box_probe", "box_probe_other"] { _ = app.function(name, probe) }
    // Without a network, in its declaration: what a deployment (and so a worker host) carries.
    _ = app.function("box_probe_offline", options: FunctionOptions(blockNetwork: true), probe)

    _ = app.function("allocate_mib", allocate)
    // With its limit in its declaration: what a deployment (and so a worker host) carries.
    _ = app.function("allocate_mib_limited", options: FunctionOptions(memory: .init(request: 64, limit: 64)), allocate)

    // Placement (PlacementTests): where a container asking for 4 cores, 2 H100s or an A100 runs, and the GPUs it got.
    for (name, options) in [
        ("where_four_cores", FunctionOptions(cpu: 4)), ("where_two_h100", FunctionOptions(gpu: "H100:2")),
        ("where_a100", FunctionOptions(gpu: "A100")),
    ] {
        _ = app.function(name, options: options) { (seconds: Double) -> String in
            Thread.sleep(forTimeInterval: seconds)
            let environment = ProcessInfo.processInfo.environment
            return
                "\(environment["ALOFT_WORKER_NAME"] ?? "server") gpus=\(environment["CUDA_VISIBLE_DEVICES"] ?? "none")"
        }
    }

    /// Spins for `seconds` of wall time and reports the CPU time it got.
    _ = app.function("busy_loop") { (seconds: Double) -> BusyReport in
        func cpu() -> Double {
            var time = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }
        let start = Date()
        let startCPU = cpu()
        var spins: UInt64 = 0
        while Date().timeIntervalSince(start) < seconds { spins &+= 1 }
        return BusyReport(
            containerID: ProcessInfo.processInfo.environment["ALOFT_CONTAINER_ID"] ?? "",
            cpuSeconds: cpu() - startCPU, wallSeconds: Date().timeIntervalSince(start))
    }

    /// Starts a shell fork bomb, waits `seconds`, and answers how many processes its box then holds (they go on
    /// until the container is stopped).
    _ = app.function("fork_bomb") { (seconds: Double) throws -> ForkBombReport in
        let bomb = Process()
        bomb.executableURL = URL(fileURLWithPath: "/bin/sh")
        bomb.arguments = ["-c", "bomb() { bomb | bomb & }; bomb"]
        bomb.standardError = FileHandle.nullDevice
        try bomb.run()
        Thread.sleep(forTimeInterval: seconds)
        let processes = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        return ForkBombReport(
            containerID: ProcessInfo.processInfo.environment["ALOFT_CONTAINER_ID"] ?? "", processes: processes.count)
    }
}

/// What a container sees and may do: `box_probe`.
@Sendable private func probe(_ request: BoxProbeRequest) -> BoxProbeReport {
    func describe(_ code: Int32) -> String { code == 0 ? "ok" : String(cString: strerror(code)) }
    var read: [String: String] = [:]
    for path in request.read {
        let file = open(path, O_RDONLY)
        if file < 0 {
            read[path] = describe(errno)
        } else {
            var byte: UInt8 = 0
            read[path] = Foundation.read(file, &byte, 1) >= 0 ? "ok" : describe(errno)
            close(file)
        }
    }
    var signalled: [Int32: String] = [:]
    for pid in request.signal { signalled[pid] = describe(kill(pid, 0) == 0 ? 0 : errno) }
    var connected: [String: String] = [:]
    for address in request.connect { connected[address] = connect(to: address) }
    let processes = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
    let directory = FileManager.default.currentDirectoryPath
    let wrote = FileManager.default.createFile(atPath: directory + "/probe", contents: Data("x".utf8))
    return BoxProbeReport(
        uid: getuid(), pid: getpid(), hostname: ProcessInfo.processInfo.hostName,
        containerID: ProcessInfo.processInfo.environment["ALOFT_CONTAINER_ID"] ?? "",
        visibleProcesses: processes.sorted(), read: read, signal: signalled, connect: connected,
        workingDirectory: directory, wroteInWorkingDirectory: wrote)
}

/// Allocates and touches this many MiB, keeps them while it answers, and answers how many it held.
@Sendable private func allocate(_ mebibytes: Int) -> Int {
    let bytes = mebibytes << 20
    guard let memory = malloc(bytes) else { return 0 }
    defer { free(memory) }
    memset(memory, 1, bytes)
    return mebibytes
}

/// "ok" when a TCP connection to `address` (`host:port`) opens within two seconds, else why not.
private func connect(to address: String) -> String {
    guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
        return "bad address"
    }
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { return String(cString: strerror(errno)) }
    defer { close(socket) }
    var timeout = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var target = sockaddr_in()
    target.sin_family = sa_family_t(AF_INET)
    target.sin_port = port.bigEndian
    inet_pton(AF_INET, String(address[..<colon]), &target.sin_addr)
    let result = withUnsafePointer(to: &target) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    return result == 0 ? "ok" : String(cString: strerror(errno))
}
