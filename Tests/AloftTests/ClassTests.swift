import Aloft
import Foundation
import Testing

/// Classes with lifecycle hooks, on the real path (container processes running Tests/TestApp).
@Suite("Classes", .serialized, .timeLimit(.minutes(3)))
struct ClassTests {
    let recorder = fixtures.cls(Recorder.self, options: FunctionOptions(scaledownWindow: .seconds(1)))

    func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test("lifecycle: enter, then inputs (which see what enter set), then exit on scale-down")
    func lifecycleOrder() async throws {
        let path = temporaryPath("aloft-class")
        defer { try? FileManager.default.removeItem(atPath: path) }
        // A window long enough that a loaded machine does not scale the container down between the two calls (at
        // 1 s it once did: enter and exit twice), short enough to wait for.
        let recorder = self.recorder.withOptions { $0.scaledownWindow = .seconds(5) }
        let greet = recorder.method("greet") { (recorder: Recorder, name: String) in recorder.greet(name) }
            .with(.init(path: path, greeting: "hello"))
        #expect(try await greet.remote("a") == "hello from enter, a")
        #expect(try await greet.remote("b") == "hello from enter, b")
        #expect(try await eventually(timeout: .seconds(20)) { lines(path).last == "exit" })
        #expect(lines(path) == ["enter", "input a", "input b", "exit"])
    }

    @Test("each parameter set is its own pool; the methods of one share its containers")
    func poolPerParameters() async throws {
        let first = Recorder.Parameters(path: temporaryPath("aloft-class"), greeting: "one")
        let second = Recorder.Parameters(path: temporaryPath("aloft-class"), greeting: "two")
        defer { for path in [first.path, second.path] { try? FileManager.default.removeItem(atPath: path) } }
        // A scale-down window longer than the test, so that a slow moment between two calls on a loaded machine
        // never stops the container the later calls expect to share.
        let recorder = self.recorder.withOptions { $0.scaledownWindow = .seconds(120) }
        let pid = recorder.method("pid") { (_: Recorder) in ProcessInfo.processInfo.processIdentifier }
        let greet = recorder.method("greet") { (recorder: Recorder, name: String) in recorder.greet(name) }
        let firstPID = try await pid.with(first).remote()
        #expect(try await greet.with(first).remote("x") == "one from enter, x")
        #expect(try await pid.with(first).remote() == firstPID)
        #expect(try await pid.with(second).remote() != firstPID)
        #expect(try await greet.with(second).remote("y") == "two from enter, y")
        #expect(lines(first.path).filter { $0 == "enter" }.count == 1, "\(lines(first.path))")
    }

    @Test("withOptions and withConcurrency make variants with pools of their own; options stack")
    func variants() async throws {
        let parameters = Recorder.Parameters(path: temporaryPath("aloft-class"), greeting: "variant")
        defer { try? FileManager.default.removeItem(atPath: parameters.path) }
        let pid = recorder.method("pid") { (_: Recorder) in ProcessInfo.processInfo.processIdentifier }
        let base = try await pid.with(parameters).remote()
        let concurrent = recorder.withConcurrency(maxInputs: 2).method("pid") { (_: Recorder) in
            ProcessInfo.processInfo.processIdentifier
        }
        #expect(try await concurrent.with(parameters).remote() != base)

        let plain: Function<NoArguments, Int32> = App("variants", configuration: fixtures.configuration).lookup(
            "process_id")
        let stacked = plain.withOptions { $0.timeout = .seconds(10) }.withOptions { $0.maxContainers = 1 }
        #expect(stacked.options.timeout == .seconds(10) && stacked.options.maxContainers == 1)
        #expect(try await plain.remote() != stacked.remote())
        // maxContainers = 1 holds: six calls at once all run in the one container.
        let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<6 { group.addTask { try await stacked.remote() } }
            return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
        }
        #expect(pids.count == 1, "containers: \(pids)")
    }

    @Test("SIGTERM to a class's container runs its exit hook")
    func exitOnSIGTERM() async throws {
        let parameters = Recorder.Parameters(path: temporaryPath("aloft-class"), greeting: "term")
        defer { try? FileManager.default.removeItem(atPath: parameters.path) }
        let pid = recorder.method("pid") { (_: Recorder) in ProcessInfo.processInfo.processIdentifier }
        let container = try await pid.with(parameters).remote()
        kill(container, SIGTERM)
        #expect(try await eventually(timeout: .seconds(20)) { lines(parameters.path) == ["enter", "exit"] })
        #expect(try await eventually(timeout: .seconds(20)) { kill(container, 0) != 0 })
    }

    @Test(".local constructs the class here and runs enter first")
    func localRunsEnter() async throws {
        let path = temporaryPath("aloft-class")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let greet = recorder.method("greet") { (recorder: Recorder, name: String) in recorder.greet(name) }
            .with(.init(path: path, greeting: "local"))
        #expect(try await greet.local("z") == "local from enter, z")
        #expect(lines(path) == ["enter", "input z"])
    }

    @Test("a class whose enter fails fails its calls instead of hanging")
    func failingEnter() async throws {
        let run = App("failing-enter", configuration: fixtures.configuration).cls(FailingEnter.self).method("run") {
            (_: FailingEnter) in 0
        }
        let error = await aloftError { try await run.function.remote() }
        #expect(error?.code == .internalFailure)
        #expect(error?.message.contains("failed to start") == true)
    }
}
