import Aloft
import Foundation
import Synchronization

/// Declared identically in Tests/TestApp/Classes.swift (a copy: the tests call the classes the test app serves).
final class Recorder: RemoteClass {
    struct Parameters: Codable, Hashable, Sendable {
        var path: String
        var greeting: String
    }

    let parameters: Parameters
    private let greetingFromEnter = Mutex<String?>(nil)

    init(parameters: Parameters) {
        self.parameters = parameters
    }

    func enter() async throws {
        record("enter")
        greetingFromEnter.withLock { $0 = parameters.greeting + " from enter" }
    }

    func exit() async {
        record("exit")
    }

    func greet(_ name: String) -> String {
        record("input \(name)")
        return "\(greetingFromEnter.withLock { $0 } ?? "no enter"), \(name)"
    }

    private func record(_ line: String) {
        let previous = (try? String(contentsOfFile: parameters.path, encoding: .utf8)) ?? ""
        try? (previous + line + "\n").write(toFile: parameters.path, atomically: true, encoding: .utf8)
    }
}

/// Its `enter` always fails.
final class FailingEnter: RemoteClass {
    init(parameters: NoArguments) {}
    func enter() async throws { throw CancellationError() }
}
