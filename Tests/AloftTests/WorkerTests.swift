import Aloft
import Foundation
import Testing

/// Worker hosts (`aloft worker`) and calls that outlive a server restart, with real processes on this host.
@Suite("Worker hosts and restarts", .serialized, .timeLimit(.minutes(5)))
struct WorkerTests {
    @Test(
        "deployed functions run on worker hosts; a killed worker's and a stalled worker's inputs run again, each result arrives once"
    )
    func workersLoseNothing() async throws {
        let directory = temporaryPath("aloft-workers")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = directory + ".log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let server = try await ServerProcess(
            dataDirectory: directory, arguments: ["--local-worker", "off", "--worker-lease", "2"],
            standardError: log)
        let token = try await newWorkerToken(dataDirectory: directory)
        // A worker token opens no client door.
        let refused: Function<Int, Int> = server.app("fixtures", token: token).lookup("square")
        #expect(await aloftError { try await refused.remote(1) }?.code == .unauthenticated)

        // A worker host of another workspace never gets this workspace's containers.
        let otherToken = try await newWorkerToken(dataDirectory: directory, workspace: "other")
        let other = try await WorkerProcess(
            server: server, token: otherToken, name: "elsewhere", cacheDirectory: directory + "/cache-other")
        let first = try await WorkerProcess(
            server: server, token: token, name: "w1", cacheDirectory: directory + "/cache-w1")
        let second = try await WorkerProcess(
            server: server, token: token, name: "w2", cacheDirectory: directory + "/cache-w2")
        try await server.deployTestApp()
        let squareWhere = Function<Int, String>.lookup(
            app: "fixtures", name: "square_where",
            controlPlane: RemoteControlPlane(server.address, token: server.token))

        // `aloft run`: the entrypoint runs here, its containers on the worker hosts, and their output comes back here.
        let run = try await runProduct(
            "aloft",
            arguments: [
                "run", "--executable", productsDirectory.appendingPathComponent("hello").path,
                "--server", server.address,
            ],
            environment: ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": server.token])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("square(7) = 49"))
        #expect(run.stdout.contains("] squaring 7 in process"), "\(run.stdout)")
        #expect((first.printed + second.printed).contains("] squaring 7 in process"))

        // A worker killed mid-map, once both have served some of it.
        var hosts: Set<String> = []
        var index = 0
        var killedAt: Int?
        for try await result in squareWhere.map(0..<6000) {
            let parts = result.split(separator: "@")
            #expect(String(parts[0]) == String(index * index))
            hosts.insert(String(parts[1]))
            index += 1
            if killedAt == nil && index >= 500 && hosts == ["w1", "w2"] {
                await first.kill()
                killedAt = index
            }
        }
        #expect(index == 6000)
        #expect(!hosts.contains("elsewhere"))
        #expect(!other.printed.contains("ctr-"))
        #expect(killedAt.map { $0 < 5000 } == true, "w1 was killed after \(String(describing: killedAt)) results")
        #expect(
            try await eventually {
                (try? String(contentsOfFile: log, encoding: .utf8))?.contains("worker host lost") ?? false
            })

        // A worker that stops heartbeating (SIGSTOP) is lost when its lease expires; its containers are cut off.
        let third = try await WorkerProcess(
            server: server, token: token, name: "w3", cacheDirectory: directory + "/cache-w3")
        index = 0
        hosts = []
        for try await result in squareWhere.map(0..<2000) {
            #expect(result.hasPrefix("\(index * index)@"))
            hosts.insert(String(result.split(separator: "@")[1]))
            index += 1
            if index == 300 { second.pause() }
        }
        #expect(index == 2000)
        #expect(hosts.contains("w3"))
        // Resumed, it finds its connection closed and joins again: with the other worker gone, it runs everything.
        second.resume()
        await third.kill()
        hosts = []
        for try await result in squareWhere.map(0..<200) { hosts.insert(String(result.split(separator: "@")[1])) }
        #expect(hosts == ["w2"])
        #expect(await server.terminate() == 0)
    }

    @Test("a map and a remote call in flight carry on across a server killed with -9: every result arrives once")
    func serverRestartMidMap() async throws {
        let directory = temporaryPath("aloft-restart")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try freePort()
        var server = try await ServerProcess(dataDirectory: directory, arguments: ["--port", String(port)])
        try await server.deployTestApp()
        let control = RemoteControlPlane(server.address, token: server.token)
        let squareWhere = Function<Int, String>.lookup(app: "fixtures", name: "square_where", controlPlane: control)
        // hang_once writes its pid to `marker` and hangs: the call is surely in flight when the server dies; run
        // again after the restart (the marker exists), it answers "recovered".
        let marker = temporaryPath("aloft-hang-once")
        defer { try? FileManager.default.removeItem(atPath: marker) }
        let hangOnce = Function<String, String>.lookup(app: "fixtures", name: "hang_once", controlPlane: control)
        let slowCall = Task { try await hangOnce.remote(marker) }

        var index = 0
        for try await result in squareWhere.map(0..<3000) {
            #expect(result == "\(index * index)@server")
            index += 1
            if index == 1000 {
                #expect(try await eventually { FileManager.default.fileExists(atPath: marker) })
                await server.kill()
                server = try await ServerProcess(dataDirectory: directory, arguments: ["--port", String(port)])
            }
        }
        #expect(index == 3000)
        #expect(try await slowCall.value == "recovered")
        // The first run's container outlived its server, hanging: end it.
        if let pid = Int32((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "") { kill(pid, SIGKILL) }
        #expect(await server.terminate() == 0)
    }
}

extension WorkerTests {
    @Test("a generator's container lost with its worker host ends the stream with internalFailure; it is not re-run")
    func generatorLostWithItsHost() async throws {
        let directory = temporaryPath("aloft-workers")
        let runs = temporaryPath("aloft-generator-runs")
        defer {
            for path in [directory, runs] { try? FileManager.default.removeItem(atPath: path) }
        }
        let server = try await ServerProcess(dataDirectory: directory, arguments: ["--local-worker", "off"])
        let token = try await newWorkerToken(dataDirectory: directory)
        let workers = [
            try await WorkerProcess(server: server, token: token, name: "g1", cacheDirectory: directory + "/cache-g1"),
            try await WorkerProcess(server: server, token: token, name: "g2", cacheDirectory: directory + "/cache-g2"),
        ]
        try await server.deployTestApp()
        let control = RemoteControlPlane(server.address, token: server.token)
        let generator = GeneratorFunction<String, String>.lookup(
            app: "fixtures", name: "record_then_wait", controlPlane: control)
        var items: [String] = []
        let error = await aloftError {
            for try await item in generator.remoteStream(runs) {
                items.append(item)
                // The first item names the host its container runs on: that host dies (the other one lives on, where
                // a re-run would go).
                if items.count == 1 { await workers.first { $0.name == item }?.kill() }
            }
        }
        #expect(items.count == 1 && ["g1", "g2"].contains(items[0]), "\(items)")
        #expect(error?.code == .internalFailure, "\(String(describing: error))")
        // Ended, not waiting to run again: nothing of it is queued or running, and its body ran once.
        let plain = Function<String, String>.lookup(app: "fixtures", name: "record_then_wait", controlPlane: control)
        #expect(try await plain.stats() == FunctionStats(backlog: 0, runningInputs: 0, containers: 0))
        #expect((try? String(contentsOfFile: runs, encoding: .utf8))?.split(separator: "\n").count == 1)
        #expect(await server.terminate() == 0)
    }

    @Test("a worker host whose standard output fails (a full disk, a closed pipe) keeps serving containers")
    func workerWithFailingOutput() async throws {
        let directory = temporaryPath("aloft-workers")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory, arguments: ["--local-worker", "off"])
        // Every write to /dev/full fails (ENOSPC), as one to a pipe whose reader exited does (EPIPE).
        let full = try #require(FileHandle(forWritingAtPath: "/dev/full"))
        let worker = try await WorkerProcess(
            server: server, token: try await newWorkerToken(dataDirectory: directory), name: "mute",
            cacheDirectory: directory + "/cache",
            standardOutput: full)
        try await server.deployTestApp()
        let squareWhere = Function<Int, String>.lookup(
            app: "fixtures", name: "square_where",
            controlPlane: RemoteControlPlane(server.address, token: server.token))
        let call = try await squareWhere.spawn(9)
        #expect(try await call.get(timeout: .seconds(60)) == "81@mute")
        #expect(worker.isRunning)
        #expect(await server.terminate() == 0)
    }
}

/// A TCP port that was free a moment ago, for a server that must come back on the same address.
func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0
        }
    }
    guard bound else { throw AloftError(.connectionFailed, "no free port: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
