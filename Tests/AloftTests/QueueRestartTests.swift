import Aloft
import Foundation
import Testing

/// A queue between containers across a server crash: issue 12's exactly-once test.
@Suite("Queues across a server kill", .timeLimit(.minutes(6)))
struct QueueRestartTests {
    @Test(
        "up to 8 producer and 8 consumer containers move 100,000 items through one queue across a kill -9: every item arrives once"
    )
    func hundredThousandItemsAcrossAKill() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try freePort()
        let arguments = ["--port", String(port)]
        var server = try await ServerProcess(dataDirectory: directory, arguments: arguments)
        let app = server.app("queues")
        let queue = Queue<Int>.fromName(
            "moved", createIfMissing: true, controlPlane: RemoteControlPlane(server.address, token: server.token))
        #expect(try await queue.count() == 0)  // creates it
        let options = FunctionOptions(maxContainers: 8)
        let produce: Function<String, Int> = app.lookup("queue_produce", options: options)
        let consume: Function<String, [Int]> = app.lookup("queue_consume", options: options)
        let blocks = (0..<100).map { "moved:\($0)" }

        let producers = Task { try await produce.map(blocks, orderOutputs: false).reduce(0, +) }
        var received: [Int] = []
        var consumed = 0
        var killed = false
        for try await items in consume.map(blocks, orderOutputs: false) {
            received += items
            consumed += 1
            // A third of the way, the server crashes and comes back on the same port and data; calls, producers
            // and consumers reconnect, and inputs that were running run again.
            if consumed == 30 {
                await server.kill()
                server = try await ServerProcess(dataDirectory: directory, arguments: arguments)
                killed = true
            }
        }
        #expect(killed)
        #expect(try await producers.value == 100_000)
        let duplicates = received.count - Set(received).count
        #expect(received.count == 100_000 && duplicates == 0, "\(received.count) received, \(duplicates) twice")
        #expect(Set(received) == Set(0..<100_000))
        #expect(try await queue.count(total: true) == 0)
        #expect(await server.terminate() == 0)
    }
}
