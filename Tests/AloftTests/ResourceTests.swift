import Aloft
import Foundation
import Testing

/// Resources on the real path: container processes and their pipes, in a process of their own (the test process
/// runs every other test at the same time, so its descriptor count says nothing).
@Suite("Resources", .timeLimit(.minutes(2)))
struct ResourceTests {
    @Test("container lifetimes leave no descriptor open; out of descriptors, a start fails instead of crashing")
    func descriptors() async throws {
        let run = try await runProduct("aloft-test-app", arguments: ["descriptors"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        // 200 lifetimes: a leak of one descriptor each would show as 200; a few may be the runtime's own.
        let leaked = run.stdout.split(separator: "\n").first { $0.hasPrefix("leaked ") }.flatMap {
            Int($0.dropFirst(7))
        }
        #expect(try #require(leaked) < 8, "stdout: \(run.stdout)")
        #expect(run.stdout.contains("refused 5 of 5"), "stdout: \(run.stdout)")
        #expect(run.stdout.contains("could not make a pipe for a container's output: Too many open files"))
        #expect(run.stdout.contains("recovered"))
    }
}
