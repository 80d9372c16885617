// The types that the end-to-end tests and their container executable (Tests/TestApp) share: arguments, results,
// errors and classes of the fixture functions.
public import Aloft
import Foundation
import Synchronization

/// A registered Codable error: it reaches the caller as itself.
public struct FixtureError: Error, Codable, Equatable {
    public var reason: String
    public var number: Int
    public init(reason: String, number: Int) {
        self.reason = reason
        self.number = number
    }
}

public struct Job: Codable, Sendable {
    public var x: Int
    public var pidFile: String
    public init(x: Int, pidFile: String) {
        self.x = x
        self.pidFile = pidFile
    }
}

/// Where an input ran.
public struct Where: Codable, Hashable, Sendable {
    public var process: Int32
    public var thread: UInt64
    public init(process: Int32, thread: UInt64) {
        self.process = process
        self.thread = thread
    }

    public static func here() -> Where {
        Where(process: ProcessInfo.processInfo.processIdentifier, thread: UInt64(pthread_self()))
    }
}

public struct Attempt: Codable, Sendable {
    public var path: String
    public var succeedOn: Int
    public init(path: String, succeedOn: Int) {
        self.path = path
        self.succeedOn = succeedOn
    }
}

public struct PIDJob: Codable, Sendable {
    public var path: String
    public var seconds: Double
    public init(path: String, seconds: Double) {
        self.path = path
        self.seconds = seconds
    }
}

public struct BatchReport: Codable, Equatable, Sendable {
    public var batchSize: Int
    public var value: Int
    public init(batchSize: Int, value: Int) {
        self.batchSize = batchSize
        self.value = value
    }
}

/// Records its lifecycle in the file named by its parameters.
public final class Recorder: RemoteClass {
    public struct Parameters: Codable, Hashable, Sendable {
        public var path: String
        public var greeting: String
        public init(path: String, greeting: String) {
            self.path = path
            self.greeting = greeting
        }
    }

    public let parameters: Parameters
    private let greetingFromEnter = Mutex<String?>(nil)

    public init(parameters: Parameters) {
        self.parameters = parameters
    }

    public func enter() async throws {
        record("enter")
        greetingFromEnter.withLock { $0 = parameters.greeting + " from enter" }
    }

    public func exit() async {
        record("exit")
    }

    public func greet(_ name: String) -> String {
        record("input \(name)")
        return "\(greetingFromEnter.withLock { $0 } ?? "no enter"), \(name)"
    }

    private func record(_ line: String) {
        let previous = (try? String(contentsOfFile: parameters.path, encoding: .utf8)) ?? ""
        try? (previous + line + "\n").write(toFile: parameters.path, atomically: true, encoding: .utf8)
    }
}

/// Its `enter` always fails.
public final class FailingEnter: RemoteClass {
    public init(parameters: NoArguments) {}
    public func enter() async throws { throw CancellationError() }
}
