import Aloft
import Foundation
import Testing

/// Graceful shutdown of containers and callers, on the real path (processes and signals).
@Suite("Graceful shutdown", .serialized, .timeLimit(.minutes(3)))
struct ShutdownTests {
    func pid(in path: String) -> Int32 {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0) } ?? 0
    }

    @Test("SIGTERM to a container: its running input finishes there, then the container exits")
    func containerSIGTERM() async throws {
        let path = temporaryPath("aloft-pid")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let function: Function<PIDJob, Int32> = fixtures.lookup("write_pid_then_sleep")
        let call = try await function.spawn(PIDJob(path: path, seconds: 1.5))
        #expect(try await eventually { pid(in: path) > 0 })
        let container = pid(in: path)
        kill(container, SIGTERM)
        #expect(try await call.get() == container)  // finished in the container that got SIGTERM
        #expect(try await eventually(timeout: .seconds(15)) { kill(container, 0) != 0 })
    }

    @Test("Ctrl-C in the caller stops its containers and leaves no process behind")
    func interruptedCaller() async throws {
        let path = temporaryPath("aloft-pid")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let caller = try ChildProcess.product(
            "aloft-test-app", arguments: ["hang", path], standardOutput: .discard, standardError: .discard)
        #expect(try await eventually { pid(in: path) > 0 })
        let container = pid(in: path)
        caller.signal(SIGINT)
        #expect(try await caller.waitForExit(timeout: .seconds(20)) == 128 + SIGINT)
        #expect(try await eventually(timeout: .seconds(15)) { kill(container, 0) != 0 })
        // Every container of that caller was started with its control plane's address, which names the caller's pid.
        let marker = "aloft-\(caller.pid)-"
        let leftovers = (try FileManager.default.contentsOfDirectory(atPath: "/proc")).filter { entry in
            guard Int32(entry) != nil, let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ")
            else { return false }
            return String(decoding: environment, as: UTF8.self).contains(marker)
        }
        #expect(leftovers.isEmpty, "processes left behind: \(leftovers)")
    }
}
