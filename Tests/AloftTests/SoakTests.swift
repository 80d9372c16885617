import AloftControlPlane
import Foundation
import Synchronization
import Testing

/// Many container lifetimes through the real process runtime: nothing of them stays behind.
///
/// It counts the descriptors and memory of the test process, so it runs alone: `scripts/test` runs it after the
/// rest with `ALOFT_ALONE=1`.
@Suite(
    "Soak", .timeLimit(.minutes(3)),
    .enabled(if: ProcessInfo.processInfo.environment["ALOFT_ALONE"] == "1", "runs alone: ALOFT_ALONE=1"))
struct SoakTests {
    @Test("1,000 container lifetimes (half exit on their own after printing, half are killed): fds and RSS stay flat")
    func containerLifetimes() async throws {
        let pid = getpid()
        let printed = Counter()
        // A first batch warms up what stays for good (threads, dispatch sources); the baseline is taken after it.
        try await Self.batch(-25, printed: printed)
        try await Task.sleep(for: .milliseconds(200))  // its read ends close just after its exits are reported
        let fdsBefore = try openDescriptors(of: pid)
        let rssBefore = try residentMemory(of: pid)
        for first in stride(from: 0, to: 1000, by: 25) { try await Self.batch(first, printed: printed) }
        // The forwarders close their read ends once they drained them, just after the exit is reported.
        #expect(try await eventually(timeout: .seconds(10)) { ((try? openDescriptors(of: pid)) ?? .max) <= fdsBefore })
        let fdsAfter = try openDescriptors(of: pid)
        let rssAfter = try residentMemory(of: pid)
        #expect(fdsAfter <= fdsBefore, "fds \(fdsBefore) before, \(fdsAfter) after 1,000 lifetimes")
        #expect(rssAfter - rssBefore < 32 << 20, "RSS \(rssBefore >> 20) MiB before, \(rssAfter >> 20) MiB after")
        #expect(printed.value.load(ordering: .relaxed) >= 512)  // each that exited printed (lines may come together)
        print(
            "soak figures: 1,000 container lifetimes; fds \(fdsBefore) before, \(fdsAfter) after; RSS \(rssBefore >> 20) MiB before, \(rssAfter >> 20) MiB after"
        )
    }

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    /// 25 lifetimes at once, from `first` on.
    static func batch(_ first: Int, printed: Counter) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in first..<first + 25 { group.addTask { try await lifetime(index, printed: printed) } }
            try await group.waitForAll()
        }
    }

    /// One container: `sh` printing to both streams and exiting (even `index`), or `sleep` killed at once.
    static func lifetime(_ index: Int, printed: Counter) async throws {
        let runtime = ProcessContainerRuntime()
        let exits = index.isMultiple(of: 2)
        let spec = ContainerSpec(
            containerID: "ctr-soak-\(index)", appName: "soak", functionName: "soak",
            executable: exits ? "/bin/sh" : "/bin/sleep",
            arguments: exits ? ["-c", "echo out; echo err >&2"] : ["30"], environment: [:],
            onOutput: { _, _ in printed.value.add(1, ordering: .relaxed) })
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            do {
                let handle = try runtime.start(spec) { status in continuation.resume(returning: status) }
                if !exits { handle.kill() }
            } catch {
                continuation.resume(throwing: error)
            }
        }
        #expect(status == (exits ? 0 : 128 + SIGKILL))
    }
}
