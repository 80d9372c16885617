import Aloft
import Foundation
import Testing

/// Placement by resources on the real path: worker hosts that declare their size (`--cpus`, `--gpus`), a deployed
/// app whose functions request cores and GPUs, and the server placing each container only where it fits.
@Suite("Placement by resources", .serialized, .timeLimit(.minutes(4)))
struct PlacementTests {
    @Test(
        "a 4-core function runs only on the 8-core host, an idle container gives way, GPUs are assigned by CUDA_VISIBLE_DEVICES, and a GPU no host has waits, says why, and runs once a host that has it joins"
    )
    func placesByResources() async throws {
        let directory = temporaryPath("aloft-placement")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory, arguments: ["--local-worker", "off"])
        let token = try await newWorkerToken(dataDirectory: directory)
        func worker(_ name: String, _ arguments: [String]) async throws -> WorkerProcess {
            try await WorkerProcess(
                server: server, token: token, name: name, cacheDirectory: "\(directory)/cache-\(name)",
                maxContainers: 4, arguments: arguments)
        }
        let small = try await worker("small", ["--cpus", "1"])
        let big = try await worker("big", ["--cpus", "8", "--gpus", "H100:2,L4:1"])
        try await server.deployTestApp()
        let controlPlane = RemoteControlPlane(server.address, token: server.token)
        func lookup(_ name: String) -> Function<Double, String> {
            .lookup(app: "fixtures", name: name, controlPlane: controlPlane)
        }

        // Eight calls at once of a function that requests 4 cores: only `big` can hold one (two at a time).
        let fourCores = lookup("where_four_cores")
        var hosts: [String] = []
        for try await answer in fourCores.map(Array(repeating: 0.2, count: 8)) {
            hosts.append(String(answer.split(separator: " ")[0]))
        }
        #expect(hosts == Array(repeating: "big", count: 8), "\(hosts)")
        // A function with the default request (0.125 cores) still fits on the small host.
        let square: Function<Int, Int> = server.app("fixtures").lookup("square")
        #expect(try await square.remote(9) == 81)

        // Two H100s of the three GPUs `big` declared: the first two devices, by index. The two idle 4-core
        // containers fill `big` until their 60 s scaledown window ends: one is stopped to make room instead.
        let asked = ContinuousClock.now
        #expect(try await lookup("where_two_h100").remote(0) == "big gpus=0,1")
        #expect(ContinuousClock.now - asked < .seconds(40), "it waited for a scaledown window instead")

        // An A100 no host has: the call waits, and stats say why instead of nothing.
        let a100 = lookup("where_a100")
        let waiting = try await a100.spawn(0)
        var reason = ""
        #expect(
            try await eventuallyAsync {
                reason = (try? await a100.stats().unplaceable) ?? ""
                return !reason.isEmpty
            })
        #expect(
            reason.contains("A100") && reason.contains("worker big") && reason.contains("worker small"), "\(reason)")
        #expect(try await a100.stats().backlog == 1)
        // A host with one joins: the waiting call runs there, and the reason is gone.
        let gpuHost = try await worker("a100-host", ["--gpus", "A100:1"])
        #expect(try await waiting.get(timeout: .seconds(60)) == "a100-host gpus=0")
        #expect(try await a100.stats().unplaceable == nil)
        #expect(small.isRunning && big.isRunning && gpuHost.isRunning)
    }

    @Test("the server's own host places by the size it is given: a function that wants more waits and says so")
    func serverHostCapacity() async throws {
        let directory = temporaryPath("aloft-placement-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory, arguments: ["--cpus", "2", "--gpus", "L4"])
        try await server.deployTestApp()
        let fourCores = Function<Double, String>.lookup(
            app: "fixtures", name: "where_four_cores",
            controlPlane: RemoteControlPlane(server.address, token: server.token))
        let call = try await fourCores.spawn(0)
        var reason = ""
        #expect(
            try await eventuallyAsync {
                reason = (try? await fourCores.stats().unplaceable) ?? ""
                return !reason.isEmpty
            })
        #expect(reason.contains("4 cores") && reason.contains("this server: 2 cores"), "\(reason)")
        try await call.cancel()
    }
}
