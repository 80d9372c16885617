import Aloft
import AloftTesting
import AloftTestingExample
import Foundation
import Testing

/// One test body, run with the app's containers as threads of this process (AloftTesting) and as processes of
/// the app's executable: the same calls, the same answers; only where the bodies run differs.
@Suite("AloftTesting: containers as threads and as processes", .timeLimit(.minutes(3)))
struct ContainerModeTests {
    init() {
        declareExampleFunctions()
    }

    @Test("calls, maps, spawns, errors, timeouts and generators", arguments: [ContainerMode.threads, .processes])
    func sameBody(_ mode: ContainerMode) async throws {
        try await withContainers(mode) {
            let here = ProcessInfo.processInfo.processIdentifier
            let there = try await processID.remote()
            #expect((there == here) == (mode == .threads))

            #expect(try await double.remote(21) == 42)
            #expect(try await quadruple.remote(3) == 12)  // a body that calls another function
            var doubled: [Int] = []
            for try await value in double.map(1...20) { doubled.append(value) }
            #expect(doubled == (1...20).map { 2 * $0 })
            let call = try await double.spawn(50)
            #expect(try await call.get() == 100)

            await #expect(throws: OddNumber(value: 3)) { try await evenOnly.remote(3) }
            let timeout = await #expect(throws: AloftError.self) { try await sleepy.remote(3) }
            #expect(timeout?.code == .timeout)

            var items: [Int] = []
            for try await item in countdown.remoteStream(4) { items.append(item) }
            #expect(items == [3, 2, 1, 0])
        }
    }
}
