import Aloft
import Foundation
import Synchronization
import Testing

/// Bodies that crash their container (live: real container processes, real signals).
@Suite("Crashing containers")
struct CrashTests {
    @Test(
        "a body that crashes its container fails with containerCrashed after three runs, naming the signal and quoting its last line"
    )
    func crashingBody() async throws {
        let path = temporaryPath("aloft-runs")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let crash: Function<String, Int> = fixtures.lookup("crash_after_printing")  // no retries: crashes use none
        let error = try #require(await aloftError { try await crash.remote(path) })
        #expect(error.code == .containerCrashed)
        #expect(error.message.contains("was killed by signal"))
        #expect(error.message.contains("the input ran 3 times"))
        #expect(error.message.contains("run 3 is about to crash"))
        #expect(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count == 3)
        #expect(try await square.remote(4) == 16)
    }

    @Test("inputs that crash their containers do not hold up a healthy input of the same function")
    func poisonDoesNotStarve() async throws {
        // One container, so that every input of the function goes through the same backlog.
        let oneContainer: Function<Int, Int> = App("poison", configuration: fixtures.configuration)
            .lookup("square", options: FunctionOptions(maxContainers: 1))
        var poisoned: [FunctionCall<Int>] = []
        for _ in 0..<2 { poisoned.append(try await oneContainer.spawn(1 << 62)) }  // x * x overflows: a trap
        let failures = Task {
            await withTaskGroup(of: (AloftError?, ContinuousClock.Instant).self) { group in
                for call in poisoned {
                    group.addTask { (await aloftError { try await call.get() }, ContinuousClock.now) }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(try await oneContainer.remote(5) == 25)
        let healthyDone = ContinuousClock.now
        let outcomes = await failures.value
        #expect(outcomes.map(\.0?.code) == [.containerCrashed, .containerCrashed])
        #expect(outcomes.allSatisfy { $0.1 > healthyDone })  // the poison ran again only after the healthy input
    }
}
