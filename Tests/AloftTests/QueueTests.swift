import Aloft
import Foundation
import Testing

/// Queues through the SDK, on the embedded control plane and on a server.
@Suite("Queues", .timeLimit(.minutes(3)))
struct QueueTests {
    @Test("FIFO per partition, counts, clear, iterate without consuming, timeouts and limits as clear errors")
    func operations() async throws {
        let queue = Queue<String>.fromName("jobs-" + UUID().uuidString.prefix(8), createIfMissing: true)
        try await queue.putMany(["a", "b", "c"])
        try await queue.put("x", partition: "other")
        #expect(try await queue.count() == 3)
        #expect(try await queue.count(total: true) == 4)
        var peeked: [String] = []
        for try await item in queue.iterate() { peeked.append(item) }
        #expect(peeked == ["a", "b", "c"])
        #expect(try await queue.get() == "a")
        #expect(try await queue.getMany(5) == ["b", "c"])
        #expect(try await queue.get(partition: "other") == "x")
        #expect(await aloftError { _ = try await queue.get(timeout: .zero) }?.code == .queueEmpty)
        let started = ContinuousClock.now
        #expect(await aloftError { _ = try await queue.get(timeout: .milliseconds(300)) }?.code == .queueEmpty)
        #expect(ContinuousClock.now - started >= .milliseconds(250))

        #expect(
            await aloftError { try await queue.put(String(repeating: "x", count: 2 << 20)) }?.code == .payloadTooLarge)
        #expect(
            await aloftError { try await queue.put("x", partition: String(repeating: "p", count: 65)) }?.code
                == .invalidArgument)
        let numbers = Queue<Int>.fromName(queue.name)
        try await queue.put("not a number")
        #expect(await aloftError { _ = try await numbers.get(timeout: .zero) }?.code == .invalidArgument)

        // 5,000 items fill a partition: a put that cannot wait fails, one that waits goes in once a get makes room.
        try await queue.clear(all: true)
        try await queue.putMany((0..<5_000).map { "\($0)" }, partition: "full")
        #expect(await aloftError { try await queue.put("late", timeout: .zero, partition: "full") }?.code == .queueFull)
        let waitingPut = Task { try await queue.put("late", timeout: .seconds(30), partition: "full") }
        #expect(try await queue.get(partition: "full") == "0")
        try await waitingPut.value
        #expect(try await queue.count(partition: "full") == 5_000)
        try await queue.delete()
        #expect(await aloftError { _ = try await Queue<String>.fromName(queue.name).count() }?.code == .notFound)
    }

    @Test("a get waiting in the caller is woken by a container's put; a container takes the caller's items")
    func acrossContainers() async throws {
        let queue = try await Queue<Int>.ephemeral()
        let put: Function<String, Bool> = fixtures.lookup("queue_put")
        let waiting = Task { try await queue.get(timeout: .seconds(60)) }
        #expect(try await put.remote("\(queue.name):41"))
        #expect(try await waiting.value == 41)
        try await queue.putMany([1, 2, 3])
        let take: Function<String, [Int]> = fixtures.lookup("queue_take")
        #expect(try await take.remote(queue.name) == [1, 2, 3])
        // The blocking forms, from a plain thread.
        let taken = try await offThePool {
            try queue.put(9)
            return try queue.get(timeout: .seconds(5))
        }
        #expect(taken == 9)
    }

    @Test("on a server: acknowledged puts survive kill -9; concurrent getters and containers take each item once")
    func serverDurabilityAndExactlyOnce() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await ServerProcess(dataDirectory: directory)
        let queue = Queue<Int>.fromName(
            "work", createIfMissing: true, controlPlane: RemoteControlPlane(first.address, token: first.token))
        for batch in 0..<20 { try await queue.putMany(Array(batch * 100..<(batch + 1) * 100)) }
        try await queue.put(-1, partition: "side")
        await first.kill()

        let second = try await ServerProcess(dataDirectory: directory)
        let provider = RemoteControlPlane(second.address, token: second.token)
        let again = Queue<Int>.fromName("work", controlPlane: provider)
        #expect(try await again.count(total: true) == 2_001)
        #expect(try await again.get(partition: "side") == -1)
        // Four getters here and containers of the server drain it concurrently.
        let take: Function<String, [Int]> = second.app("queues").lookup("queue_take")
        let taken = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var mine: [Int] = []
                    while let batch = try? await again.getMany(37, timeout: .zero), !batch.isEmpty { mine += batch }
                    return mine
                }
            }
            for _ in 0..<4 { group.addTask { try await take.remote("work") } }
            var all: [Int] = []
            for try await part in group { all += part }
            return all
        }
        #expect(taken.count == 2_000 && Set(taken) == Set(0..<2_000), "\(taken.count) taken")
        #expect(try await again.count(total: true) == 0)
        #expect(await second.terminate() == 0)
    }

    @Test("the HTTP API and aloft queue put, peek, count, clear and delete what the SDK sees; no waits there")
    func httpAndCLI() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let queue = Queue<[String: Int]>.fromName(
            "events", controlPlane: RemoteControlPlane(server.address, token: server.token))
        let put = try await server.http(
            "POST", "/v1/queues/events/put", body: #"{"items": [{"n": 1}, {"n": 2}], "create_if_missing": true}"#)
        #expect(put.status == 200 && put.json["put"] as? Int == 2)
        try await queue.put(["n": 3], partition: "late")
        func aloft(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await runProduct(
                "aloft", arguments: arguments,
                environment: ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": server.token])
        }
        #expect(try await aloft(["queue", "list"]).stdout == "events\n")
        #expect(try await aloft(["queue", "peek", "events"]).stdout == "{\"n\":1}\n{\"n\":2}\n")
        #expect(try await aloft(["queue", "len", "events"]).stdout == "2\n")
        #expect(try await aloft(["queue", "len", "events", "--total"]).stdout == "3\n")
        #expect(try await queue.get() == ["n": 1])  // peeking took nothing
        #expect(try await aloft(["queue", "clear", "events", "--all"]).stdout.contains("2 items"))
        #expect(try await queue.count(total: true) == 0)
        #expect(try await server.http("POST", "/v1/queues/nothing/put", body: #"{"items": [1]}"#).status == 404)
        #expect(try await aloft(["queue", "delete", "events"]).status == 0)
        #expect(await aloftError { _ = try await queue.count() }?.code == .notFound)
        #expect(await server.terminate() == 0)
    }
}
