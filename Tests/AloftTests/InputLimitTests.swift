import AloftCore
import AloftWire
import Foundation
import Testing

@testable import AloftClient

/// The server bounds the inputs it holds (`InputLimits`), whatever its clients send.
@Suite("Input limits", .timeLimit(.minutes(3)))
struct InputLimitTests {
    @Test(
        "a client that ignores its map window gets resourceExhausted for what is past the bound; the server's memory stays bounded"
    )
    func mapPastItsBound() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory, arguments: ["--input-limits", "map-mib=32"])
        let (_, functionID) = try await (server.app("limits").lookup("sleepy") as Function<Double, Int>)
            .connectAndRegister()
        let before = try residentMemory(of: server.pid)
        // 200 inputs of 2 MiB (400 MiB) in one map, sent without waiting for a result: 2 MiB of JSON that says 30.
        let argument = Data("30".utf8) + Data(repeating: UInt8(ascii: " "), count: (2 << 20) - 64)
        let refused = try await offThePool { () throws -> [Aloft_V1_Output] in
            let socket = try BlockingWireSocket(address: server.address)
            defer { socket.shutdown() }
            try socket.send(Aloft_V1_Envelope(requestID: 1, body: .hello(.init(role: .client, token: server.token))))
            var create = Aloft_V1_CallCreate()
            create.callID = CallID.make()
            create.functionID = functionID
            create.kind = .map
            _ = try socket.receive()  // the welcome: only then may frames be large
            try socket.send(Aloft_V1_Envelope(requestID: 2, body: .callCreate(create)))
            for index in 0..<200 {
                var put = Aloft_V1_CallPutInputs()
                put.callID = create.callID
                var input = Aloft_V1_Input()
                input.index = UInt64(index)
                input.data = argument
                put.inputs = [input]
                try socket.send(Aloft_V1_Envelope(requestID: 0, body: .callPutInputs(put)))
            }
            var outputs: [Aloft_V1_Output] = []
            // Refusals only: on a loaded machine an accepted input (30 s) may finish before the last refusal is read.
            while outputs.count < 184, let envelope = try socket.receive() {
                if case .callOutputs(let pushed) = envelope.body {
                    outputs += pushed.outputs.filter { $0.result.status != .success }
                }
            }
            return outputs
        }
        // 32 MiB hold 15 inputs of 2 MiB (with room for the first); the rest are refused at once, each by name.
        #expect(refused.count >= 184)
        #expect(refused.allSatisfy { $0.result.error.code == AloftError.Code.resourceExhausted.rawValue })
        let message = refused.first?.result.error.message ?? ""
        #expect(message.contains("a map may hold at most 33554432"), "\(message)")
        // 400 MiB arrived; the server never held much more than its 32 MiB bound (and what reading frames takes).
        let peak = try residentMemory(of: server.pid, field: "VmHWM")
        #expect(peak - before < 200 << 20, "RSS before \(before >> 20) MiB, peak \(peak >> 20) MiB")
        // The connection is gone, so its map is cancelled and what it held is let go: the server is fine.
        #expect(try await (server.app("limits").lookup("square") as Function<Int, Int>).remote(4) == 16)
        #expect(await server.terminate() == 0)
    }

    @Test("the SDK keeps a map under the server's bounds: large inputs wait their turn instead of failing")
    func sdkMapStaysUnderTheBound() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(
            dataDirectory: directory, arguments: ["--input-limits", "map=8,map-mib=8"])
        let byteCount: Function<String, Int> = server.app("limits").lookup("byte_count")
        // 30 inputs of 1 MiB with a window of 1,000: the server holds at most 8 of them at once.
        let texts = (0..<30).map { String(repeating: "x", count: (1 << 20) + $0) }
        var counts: [Int] = []
        for try await count in byteCount.map(texts) { counts.append(count) }
        // Any input the server refused would have thrown resourceExhausted here.
        #expect(counts == texts.map(\.utf8.count))
        #expect(await server.terminate() == 0)
    }

    @Test("a workspace past its bound gets resourceExhausted for new calls until some end; spawnMap waits instead")
    func workspaceBound() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory, arguments: ["--input-limits", "workspace=3"])
        let sleepy: Function<Double, Int> = server.app("limits").lookup("sleepy")
        var held: [FunctionCall<Int>] = []
        for _ in 0..<3 { held.append(try await sleepy.spawn(60)) }
        let refused = await aloftError { try await sleepy.spawn(60) }
        #expect(refused?.code == .resourceExhausted)
        #expect(refused?.message.contains("it may have at most 3") == true, "\(String(describing: refused))")
        #expect(await aloftError { try await sleepy.remote(0) }?.code == .resourceExhausted)
        // The same bound over HTTP: 429.
        let reply = try await server.http("POST", "/v1/apps/limits/functions/sleepy/call", body: "0")
        #expect(reply.status == 429, "\(reply.json)")

        // spawnMap of 6 quick inputs is taken bit by bit as the held calls end.
        let spawned = Task { try await sleepy.spawnMap([0.1, 0.1, 0.1, 0.1, 0.1, 0.1]) }
        try await Task.sleep(for: .milliseconds(500))
        for call in held { try await call.cancel() }
        try await spawned.value
        #expect(try await eventuallyAsync { (try? await sleepy.remote(0)) == 0 })
        #expect(await server.terminate() == 0)
    }
}

/// Runs blocking work on a thread of its own, not on one of the few threads that run every test's tasks.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
