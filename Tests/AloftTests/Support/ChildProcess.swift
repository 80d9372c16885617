import Foundation
import Synchronization

/// A child process of a test, watched without holding a test thread: its output is gathered by a reading thread per
/// collected stream, its end arrives through `terminationHandler`, and every wait is async with a deadline. A
/// child that hangs fails its test within that deadline instead of stalling the two threads that run every test.
///
/// Every process a test starts (`aloft server`, `aloft worker`, `aloft serve`, callers, `curl`, `ip`) goes through
/// this one type.
final class ChildProcess: Sendable {
    /// Where one of the child's streams goes.
    enum Destination: Sendable {
        /// Kept (the first `collectLimit` bytes), readable as `stdout`/`stderr` and waited on with `waitForOutput`.
        case collect
        /// This process's own stream (the test log).
        case inherit
        /// Dropped.
        case discard
        /// A file, created or truncated.
        case file(String)
        /// An open file handle (a test of a full disk writes to /dev/full).
        case handle(FileHandle)
    }

    /// A wait that ran past its deadline, or a child that ended before it printed what was awaited.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// How much of each collected stream is kept: a server forwards its containers' output, which a long test makes
    /// large.
    static let collectLimit = 4 << 20

    let pid: Int32
    /// The command line, for messages.
    let command: String
    private let box: Box
    /// Kept so that the handlers it holds live as long as the child; read only to launch it.
    private let process: Process

    /// Starts `executable` with `arguments`, its environment this process's with `environment` merged over it.
    /// `onLine` sees each line of standard output (without its `\n` or `\r`) as it arrives, when that is collected.
    init(
        _ executable: String, arguments: [String] = [], environment: [String: String] = [:],
        standardOutput: Destination = .collect, standardError: Destination = .collect,
        onLine: (@Sendable (String) -> Void)? = nil
    ) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let box = Box(onLine: onLine)
        process.standardOutput = try Self.attach(standardOutput, stream: .output, to: box)
        process.standardError = try Self.attach(standardError, stream: .errors, to: box)
        process.terminationHandler = { [box] ended in box.exited(ended.terminationStatus) }
        try process.run()
        self.process = process
        self.box = box
        pid = process.processIdentifier
        command = ([executable] + arguments).joined(separator: " ")
    }

    /// A product of this package (`aloft`, `aloft-test-app`, ...), started as `init` does.
    static func product(
        _ name: String, arguments: [String] = [], environment: [String: String] = [:],
        standardOutput: Destination = .collect, standardError: Destination = .collect
    ) throws -> ChildProcess {
        try ChildProcess(
            productsDirectory.appendingPathComponent(name).path, arguments: arguments, environment: environment,
            standardOutput: standardOutput, standardError: standardError)
    }

    var stdout: String { String(decoding: box.state.withLock { $0.output }, as: UTF8.self) }
    var stderr: String { String(decoding: box.state.withLock { $0.errors }, as: UTF8.self) }
    var isRunning: Bool { box.state.withLock { $0.status == nil } }
    /// Its exit status once it ended (for a signal, the signal's number, as Foundation reports it).
    var exitStatus: Int32? { box.state.withLock { $0.status } }

    /// Sends `signal`.
    func signal(_ signal: Int32) { Foundation.kill(pid, signal) }

    /// Waits until standard output (or standard error, with `errors`) holds `text`; throws if the child ends first
    /// or `timeout` passes.
    func waitForOutput(_ text: String, onErrors errors: Bool = false, timeout: Duration = .seconds(30)) async throws {
        let pattern = Data(text.utf8)
        let holds: @Sendable (Box.State) -> Bool = { (errors ? $0.errors : $0.output).range(of: pattern) != nil }
        let seen = await box.wait(timeout: timeout) { holds($0) || $0.status != nil }
        guard box.state.withLock({ holds($0) }) else {
            let why = seen ? "ended (status \(exitStatus ?? -1))" : "did not print it within \(timeout)"
            throw Failure(
                description: "\(command) \(why) before printing '\(text)'; stdout: \(stdout)\nstderr: \(stderr)")
        }
    }

    /// Waits until the child has ended and its collected streams are read to their end; returns its exit status.
    /// Past `timeout` it is killed (SIGKILL) and this throws.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        guard await box.wait(timeout: timeout, until: { $0.status != nil }) else {
            signal(SIGKILL)
            _ = await box.wait(timeout: .seconds(10)) { $0.status != nil }
            throw Failure(description: "\(command) did not end within \(timeout); killed. stdout: \(stdout)")
        }
        // The pipes' last bytes may still be on their way to the handlers (a grandchild holding one open would keep
        // it from its end: then what arrived is enough).
        _ = await box.wait(timeout: .seconds(5)) { $0.openStreams == 0 }
        return exitStatus ?? -1
    }

    /// SIGKILL, then waits for it to end.
    func kill() async {
        signal(SIGKILL)
        _ = try? await waitForExit(timeout: .seconds(30))
    }

    deinit {
        if isRunning { Foundation.kill(pid, SIGKILL) }
    }

    private enum Stream { case output, errors }

    private static func attach(_ destination: Destination, stream: Stream, to box: Box) throws -> Any? {
        switch destination {
        case .inherit: return nil
        case .discard: return FileHandle.nullDevice
        case .handle(let handle): return handle
        case .file(let path):
            guard FileManager.default.createFile(atPath: path, contents: nil),
                let handle = FileHandle(forWritingAtPath: path)
            else { throw Failure(description: "cannot write \(path)") }
            return handle
        case .collect:
            // A thread per stream, in blocking reads to the end: a `readabilityHandler` (a dispatch source) whose
            // pipe was closed while the source was still registered crashed libdispatch's manager thread once
            // (`_dispatch_event_loop_drain`, SIGSEGV) and the whole test process with it.
            let pipe = Pipe()
            box.state.withLock { $0.openStreams += 1 }
            let reading = pipe.fileHandleForReading
            let thread = Thread { [box] in
                while true {
                    let chunk = reading.availableData
                    box.received(chunk, onOutput: stream == .output)
                    if chunk.isEmpty { return }
                }
            }
            thread.name = "child-\(stream == .output ? "stdout" : "stderr")"
            thread.start()
            return pipe
        }
    }

    /// What the handlers and the waits share; the handlers hold this, not the `ChildProcess`, so that dropping the
    /// last reference to a running child kills it.
    private final class Box: Sendable {
        struct State {
            var output = Data()
            var errors = Data()
            /// Standard output's unfinished last line, for `onLine`.
            var partialLine = Data()
            var openStreams = 0
            var status: Int32?
            var waiters: [UUID: Waiter] = [:]
        }

        struct Waiter {
            let isMet: @Sendable (State) -> Bool
            let continuation: CheckedContinuation<Bool, Never>
            /// Ends the wait with false at its deadline; cancelled when the condition comes true first.
            var deadline: Task<Void, Never>?

            func resume(returning holds: Bool) {
                deadline?.cancel()
                continuation.resume(returning: holds)
            }
        }

        let state = Mutex(State())
        let onLine: (@Sendable (String) -> Void)?

        init(onLine: (@Sendable (String) -> Void)?) { self.onLine = onLine }

        func received(_ chunk: Data, onOutput: Bool) {
            var lines: [String] = []
            change { state in
                guard !chunk.isEmpty else {
                    state.openStreams -= 1
                    return
                }
                if onOutput {
                    state.output.append(chunk.prefix(max(0, ChildProcess.collectLimit - state.output.count)))
                    guard onLine != nil else { return }
                    state.partialLine.append(chunk)
                    while let newline = state.partialLine.firstIndex(of: UInt8(ascii: "\n")) {
                        var line = String(decoding: state.partialLine[..<newline], as: UTF8.self)
                        if line.hasSuffix("\r") { line.removeLast() }
                        lines.append(line)
                        state.partialLine = Data(state.partialLine[state.partialLine.index(after: newline)...])
                    }
                } else {
                    state.errors.append(chunk.prefix(max(0, ChildProcess.collectLimit - state.errors.count)))
                }
            }
            for line in lines { onLine?(line) }
        }

        func exited(_ status: Int32) { change { $0.status = status } }

        /// Applies `update`, then resumes every waiter whose condition now holds.
        private func change(_ update: (inout State) -> Void) {
            let met = state.withLock { state in
                update(&state)
                let met = state.waiters.filter { $0.value.isMet(state) }
                for id in met.keys { state.waiters[id] = nil }
                return met.values
            }
            for waiter in met { waiter.resume(returning: true) }
        }

        /// Waits until `condition` holds (true) or `timeout` passes (false).
        func wait(timeout: Duration, until condition: @escaping @Sendable (State) -> Bool) async -> Bool {
            let id = UUID()
            return await withCheckedContinuation { continuation in
                let holds = state.withLock { state in
                    if condition(state) { return true }
                    state.waiters[id] = Waiter(isMet: condition, continuation: continuation)
                    return false
                }
                guard !holds else { return continuation.resume(returning: true) }
                let deadline = Task { [self] in
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: false)
                }
                let ended = state.withLock { state in
                    state.waiters[id]?.deadline = deadline
                    return state.waiters[id] == nil
                }
                if ended { deadline.cancel() }  // met between the two locks: the waiter had no deadline to cancel
            }
        }
    }
}

/// Runs `executable` to its end and returns its exit status and output; past `timeout` it is killed and this throws.
func runProcess(
    _ executable: String, arguments: [String] = [], environment: [String: String] = [:],
    timeout: Duration = .seconds(120)
) async throws -> (status: Int32, stdout: String, stderr: String) {
    let child = try ChildProcess(executable, arguments: arguments, environment: environment)
    let status = try await child.waitForExit(timeout: timeout)
    return (status, child.stdout, child.stderr)
}

/// `runProcess` for a product of this package.
func runProduct(
    _ name: String, arguments: [String] = [], environment: [String: String] = [:],
    timeout: Duration = .seconds(120)
) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await runProcess(
        productsDirectory.appendingPathComponent(name).path, arguments: arguments, environment: environment,
        timeout: timeout)
}
