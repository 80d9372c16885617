// An app as a user would lay it out for tests: its functions in a library, which both its executable
// (Tests/TestingExampleApp) and its tests (Tests/AloftTestingTests) link.
public import Aloft
import Foundation

/// The app, whose containers run `aloft-testing-example` (beside this process's executable) as processes.
public let exampleApp = App(
    "testing-example",
    configuration: AppConfiguration(
        containerExecutable: URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("aloft-testing-example").path,
        containerArguments: []))

public let double = exampleApp.function("double") { (x: Int) -> Int in 2 * x }

/// Calls another function from its body.
public let quadruple = exampleApp.function("quadruple") { (x: Int) async throws -> Int in
    try await double.remote(try await double.remote(x))
}

public struct OddNumber: Error, Codable, Equatable {
    public var value: Int
    public init(value: Int) { self.value = value }
}

public let evenOnly = exampleApp.function("even_only") { (x: Int) throws -> Int in
    if x % 2 == 1 { throw OddNumber(value: x) }
    return x
}

public let sleepy = exampleApp.function("sleepy", options: FunctionOptions(timeout: .seconds(1))) {
    (seconds: Double) -> Int in
    Thread.sleep(forTimeInterval: seconds)
    return 0
}

public let countdown = exampleApp.generator("countdown") { (n: Int) -> [Int] in Array((0..<n).reversed()) }

/// The process a body runs in.
public let processID = exampleApp.function("process_id") { () -> Int32 in ProcessInfo.processInfo.processIdentifier }

/// Declares every function (a library's globals start on first use; a container must know them all).
public func declareExampleFunctions() {
    exampleApp.registerError(OddNumber.self)
    _ = (double, quadruple, evenOnly, sleepy, countdown, processID)
}
