// The executable that the end-to-end tests start as containers. Each function here is called from the tests
// through `app.lookup(name, ...)` handles with the same types.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Aloft
import AloftControlPlane
import AloftTestFixtures
import AloftWire
import Foundation
import Synchronization

struct PlainError: Error, CustomStringConvertible {
    var description: String { "plain failure" }
}

let app = App("fixtures")
app.registerError(FixtureError.self)

let square = app.function("square") { (x: Int) -> Int in x * x }

/// Prints `text` on standard output and `text (stderr)` on standard error (the stored logs' tests).
let say = app.function("say") { (text: String) -> String in
    print(text)
    fputs("\(text) (stderr)\n", stderr)
    return text
}

let processID = app.function("process_id") { () -> Int32 in ProcessInfo.processInfo.processIdentifier }

let failPlain = app.function("fail_plain") { (message: String) throws -> Int in throw PlainError() }

let failRegistered = app.function("fail_registered") { (number: Int) throws -> Int in
    throw FixtureError(reason: "registered", number: number)
}

let failOnMultipleOf = app.function("fail_on_multiple_of_7") { (x: Int) throws -> Int in
    if x % 7 == 0 { throw PlainError() }
    return x
}

let sleepy = app.function("sleepy") { (seconds: Double) -> Int in
    Thread.sleep(forTimeInterval: seconds)
    return 0
}

/// Writes its pid to `path`, then sleeps: the test kills it mid-input.
let writePIDAndSleep = app.function("write_pid_and_sleep") { (path: String) throws -> Int in
    try String(ProcessInfo.processInfo.processIdentifier).write(toFile: path, atomically: true, encoding: .utf8)
    Thread.sleep(forTimeInterval: 60)
    return 0
}

/// Adds "PID" as a line to `path` (one line per attempt), then sleeps a minute: a timeout ends it.
let recordPIDAndSleep = app.function("record_pid_and_sleep") { (path: String) throws -> Int in
    let previous = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    try (previous + "\(ProcessInfo.processInfo.processIdentifier)\n").write(
        toFile: path, atomically: true, encoding: .utf8)
    Thread.sleep(forTimeInterval: 60)
    return 0
}

/// "PATH:SECONDS": adds its pid as a line to PATH (one line per attempt), sleeps SECONDS, answers the line count.
let recordAndSleep = app.function("record_and_sleep") { (job: String) throws -> Int in
    let parts = job.split(separator: ":").map(String.init)
    let previous = (try? String(contentsOfFile: parts[0], encoding: .utf8)) ?? ""
    let lines = previous + "\(ProcessInfo.processInfo.processIdentifier)\n"
    try lines.write(toFile: parts[0], atomically: true, encoding: .utf8)
    Thread.sleep(forTimeInterval: Double(parts[1]) ?? 0)
    return lines.split(separator: "\n").count
}

/// Starts a child process (`sleep 120`), writes "CONTAINER_PID CHILD_PID" to `path`, and sleeps a minute.
let forkSleeperAndSleep = app.function("fork_sleeper_and_sleep") { (path: String) throws -> Int in
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/bin/sleep")
    child.arguments = ["120"]
    try child.run()
    let pids = "\(ProcessInfo.processInfo.processIdentifier) \(child.processIdentifier)"
    try pids.write(toFile: path, atomically: true, encoding: .utf8)
    Thread.sleep(forTimeInterval: 60)
    return 0
}

/// Appends a line to `path` per run, says so on stderr, and crashes its container (a Swift trap).
let crashAfterPrinting = app.function("crash_after_printing") { (path: String) throws -> Int in
    let previous = (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").count ?? 0
    try String(repeating: "run\n", count: previous + 1).write(toFile: path, atomically: true, encoding: .utf8)
    FileHandle.standardError.write(Data("run \(previous + 1) is about to crash\n".utf8))
    fatalError("crashing on purpose")
}

/// Squares `x`; for a negative `x`, writes its pid to `pidFile` and sleeps (the test kills it).
let squareOrHang = app.function("square_or_hang") { (job: Job) throws -> Int in
    if job.x >= 0 { return job.x * job.x }
    try String(ProcessInfo.processInfo.processIdentifier).write(toFile: job.pidFile, atomically: true, encoding: .utf8)
    Thread.sleep(forTimeInterval: 60)
    return 0
}

let sleepAndReport = app.function("sleep_and_report") { (seconds: Double) -> Where in
    Thread.sleep(forTimeInterval: seconds)
    return Where.here()
}

let asyncSleepAndReport = app.function("async_sleep_and_report") { (seconds: Double) async throws -> Where in
    try await Task.sleep(for: .seconds(seconds))
    return Where.here()
}

/// "KEY:N": counts itself in, then waits (up to 60 s) until N inputs with KEY have come into this container: a
/// barrier, so that N inputs are surely running at once when they answer where they ran. Blocking, or async.
let arriveAndWait = app.function("arrive_and_wait") { (job: String) throws -> Where in
    let (key, count) = arrive(job)
    for _ in 0..<12_000 where arrivals.withLock({ $0[key] ?? 0 }) < count { Thread.sleep(forTimeInterval: 0.005) }
    return Where.here()
}

let asyncArriveAndWait = app.function("async_arrive_and_wait") { (job: String) async throws -> Where in
    let (key, count) = arrive(job)
    for _ in 0..<12_000 where arrivals.withLock({ $0[key] ?? 0 }) < count {
        try await Task.sleep(for: .milliseconds(5))
    }
    return Where.here()
}

/// A barrier across containers: appends a line to `path`, then waits (up to 60 s) until it has `count` lines, and
/// answers where it ran. `count` inputs are surely running at once when they answer.
let fileBarrier = app.function("file_barrier") { (path: String, count: Int) throws -> Where in
    let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    guard descriptor >= 0 else { throw PlainError() }
    _ = write(descriptor, "+\n", 2)  // one write, appended whole: no line is lost to another container's
    close(descriptor)
    func arrived() -> Int { ((try? Data(contentsOf: URL(fileURLWithPath: path)))?.count ?? 0) / 2 }
    for _ in 0..<6_000 where arrived() < count { Thread.sleep(forTimeInterval: 0.01) }
    return Where.here()
}

let arrivals = Mutex<[String: Int]>([:])

func arrive(_ job: String) -> (key: String, count: Int) {
    let parts = job.split(separator: ":").map(String.init)
    arrivals.withLock { $0[parts[0], default: 0] += 1 }
    return (parts[0], Int(parts[1]) ?? 0)
}

/// Appends a line to `path` per attempt; throws until attempt `succeedOn`, then returns the attempt number.
let countAttempts = app.function("count_attempts") { (attempt: Attempt) throws -> Int in
    let previous = (try? String(contentsOfFile: attempt.path, encoding: .utf8))?.split(separator: "\n").count ?? 0
    try String(repeating: "attempt\n", count: previous + 1).write(
        toFile: attempt.path, atomically: true, encoding: .utf8)
    if previous + 1 < attempt.succeedOn { throw PlainError() }
    return previous + 1
}

/// Waits (up to 60 s) until `path` exists, then answers 0: a call that stays pending until the test lets it go.
let waitForFile = app.function("wait_for_file") { (path: String) throws -> Int in
    for _ in 0..<6_000 where !FileManager.default.fileExists(atPath: path) { Thread.sleep(forTimeInterval: 0.01) }
    return 0
}

/// Hangs (after writing its pid to `path`) the first time; returns "recovered" once `path` exists.
let hangOnce = app.function("hang_once") { (path: String) throws -> String in
    if FileManager.default.fileExists(atPath: path) { return "recovered" }
    try String(ProcessInfo.processInfo.processIdentifier).write(toFile: path, atomically: true, encoding: .utf8)
    Thread.sleep(forTimeInterval: 60)
    return "slept"
}

/// Writes `path` when it starts, then waits to be cancelled as a task; writes `path.cancelled` when it is.
let asyncWaitForCancel = app.function("async_wait_for_cancel") { (path: String) async throws -> Int in
    _ = FileManager.default.createFile(
        atPath: path, contents: Data(String(ProcessInfo.processInfo.processIdentifier).utf8))
    do {
        try await Task.sleep(for: .seconds(60))
    } catch {
        _ = FileManager.default.createFile(atPath: path + ".cancelled", contents: Data())
        throw error
    }
    return 0
}

/// Writes `path` when it starts, then polls `AloftInput.isCancelled`; writes `path.cancelled` when it sees it.
let blockingWaitForCancel = app.function("blocking_wait_for_cancel") { (path: String) throws -> Int in
    _ = FileManager.default.createFile(
        atPath: path, contents: Data(String(ProcessInfo.processInfo.processIdentifier).utf8))
    for _ in 0..<6000 {
        if AloftInput.isCancelled {
            _ = FileManager.default.createFile(atPath: path + ".cancelled", contents: Data())
            throw CancellationError()
        }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return 0
}

/// Writes its pid to `path`, then waits (up to 60 s, not looking at cancellation) until `path.release` exists;
/// answers its pid.
let waitForRelease = app.function("wait_for_release") { (path: String) throws -> Int32 in
    let pid = ProcessInfo.processInfo.processIdentifier
    _ = FileManager.default.createFile(atPath: path, contents: Data(String(pid).utf8))
    for _ in 0..<6_000 where !FileManager.default.fileExists(atPath: path + ".release") {
        Thread.sleep(forTimeInterval: 0.01)
    }
    return pid
}

/// Writes its pid to `path`, sleeps `seconds`, returns its pid.
let writePIDThenSleep = app.function("write_pid_then_sleep") { (job: PIDJob) throws -> Int32 in
    try String(ProcessInfo.processInfo.processIdentifier).write(toFile: job.path, atomically: true, encoding: .utf8)
    Thread.sleep(forTimeInterval: job.seconds)
    return ProcessInfo.processInfo.processIdentifier
}

// `aloft-test-app noop`: a run that calls nothing (what a run prints before its entrypoints).
app.localEntrypoint("noop") { print("noop") }

// `aloft-test-app map_squares N`: maps `square` over 0..<N on the embedded default and prints the sum (a big map
// shows its progress line on a terminal's standard error).
app.localEntrypoint("map_squares") { () async throws in
    let count = Int(CommandLine.arguments[2]) ?? 0
    var sum = 0
    for try await result in square.map(Array(0..<count)) { sum += result }
    print("sum \(sum)")
}

// `aloft-test-app blocking_in_async`: a blocking call from async code (ALOFT_ASYNC_WARNINGS decides what it does);
// prints the result or the error's code.
app.localEntrypoint("blocking_in_async") { () async throws in
    func synchronousHelper() throws -> Int { try square.remote(5) }
    do {
        print("result \(try synchronousHelper())")
    } catch let error as AloftError {
        print("error \(error.code): \(error.message)")
    }
}

/// `aloft-test-app sum_squares --count N [--verbose]`: typed entrypoint arguments.
struct SumArguments: ParsableArguments {
    @Option(help: "How many squares to sum, from 0.") var count = 3
    @Flag(help: "Print each square.") var verbose = false
}

app.localEntrypoint("sum_squares") { (arguments: SumArguments) async throws in
    var sum = 0
    for x in 0..<arguments.count {
        let squared = try await square.remote(x)
        if arguments.verbose { print("square \(x) = \(squared)") }
        sum += squared
    }
    print("sum \(sum)")
}

// `aloft-test-app hang PATH`: a caller whose input hangs in a container, for the Ctrl-C test.
app.localEntrypoint("hang") {
    let path = CommandLine.arguments[2]
    _ = try writePIDThenSleep.remote(PIDJob(path: path, seconds: 300))
}

// `aloft-test-app caller_then_hang RUNNING SPAWNED` (with ALOFT_CONTROL_PLANE): spawns record_and_sleep on SPAWNED
// and prints the call's id, then waits on a `.remote` of async_wait_for_cancel on RUNNING: the test kills this caller.
app.localEntrypoint("caller_then_hang") { () async throws in
    let spawned = try await recordAndSleep.spawn(CommandLine.arguments[3] + ":2")
    print(spawned.id)
    _ = try await asyncWaitForCancel.remote(CommandLine.arguments[2])
}

// `aloft-test-app descriptors`: container lifetimes leave no descriptor open, and running out of descriptors fails
// the start that needed one instead of crashing. Prints `leaked N`, `refused N of 5` and `recovered`.
app.localEntrypoint("descriptors") {
    let runtime = ProcessContainerRuntime()
    func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }
    func lifetime() throws {
        let exited = DispatchSemaphore(value: 0)
        let spec = ContainerSpec(
            containerID: "ctr-fd", appName: "fd", functionName: "fd", executable: "/bin/echo", arguments: ["line"],
            environment: [:])
        _ = try runtime.start(spec) { _ in exited.signal() }
        exited.wait()
    }
    for _ in 0..<5 { try lifetime() }  // Foundation's and Dispatch's own descriptors open on first use
    let before = openDescriptors()
    for _ in 0..<200 { try lifetime() }
    // Fewer than before is no leak: descriptors the runtime opened lazily may have closed meanwhile.
    print("leaked \(max(0, openDescriptors() - before))")
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    let original = limit
    limit.rlim_cur = rlim_t(openDescriptors() + 8)
    setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    var held: [Int32] = []
    while case let descriptor = dup(0), descriptor >= 0 { held.append(descriptor) }
    var refused = 0
    for _ in 0..<5 {
        do { try lifetime() } catch {
            refused += 1
            if refused == 1 { print("error: \(error)") }
        }
    }
    print("refused \(refused) of 5")
    for descriptor in held { close(descriptor) }
    var restored = original
    setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &restored)
    try lifetime()
    print("recovered")
}

let countUp = app.generator("count_up") { (n: Int) -> AsyncThrowingStream<Int, any Error> in
    AsyncThrowingStream { continuation in
        for i in 0..<n { continuation.yield(i) }
        continuation.finish()
    }
}

/// Adds a line to `path` (one per run of the body), yields 0, 1, 2, then throws.
let recordThenFail = app.generator("record_then_fail") { (path: String) -> AsyncThrowingStream<Int, any Error> in
    let previous = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    try? (previous + "run\n").write(toFile: path, atomically: true, encoding: .utf8)
    return AsyncThrowingStream { continuation in
        for i in 0..<3 { continuation.yield(i) }
        continuation.finish(throwing: PlainError())
    }
}

/// Adds a line to `path` (one per run), yields "first", then kills its own container with SIGKILL.
let yieldThenCrash = app.generator("yield_then_crash") { (path: String) -> AsyncThrowingStream<String, any Error> in
    let previous = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    try? (previous + "run\n").write(toFile: path, atomically: true, encoding: .utf8)
    return AsyncThrowingStream { continuation in
        continuation.yield("first")
        Task {
            try await Task.sleep(for: .milliseconds(300))
            kill(getpid(), SIGKILL)
        }
    }
}

/// Adds a line to `path` per run, yields the worker host it runs on (`server` for the server's own), then waits 60 s
/// before it ends: a stream that is surely still running when a test cuts it off.
let recordThenWait = app.generator("record_then_wait") { (path: String) -> AsyncThrowingStream<String, any Error> in
    let previous = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    try? (previous + "run\n").write(toFile: path, atomically: true, encoding: .utf8)
    return AsyncThrowingStream { continuation in
        continuation.yield(ProcessInfo.processInfo.environment["ALOFT_WORKER_NAME"] ?? "server")
        Task {
            try await Task.sleep(for: .seconds(60))
            continuation.finish()
        }
    }
}

let blockingItems = app.generator("blocking_items") { (n: Int) -> [String] in (0..<n).map { "item \($0)" } }

/// Yields "first", then waits (up to 30 s) for `path` to exist before it yields "second".
let waitBetweenItems = app.generator("wait_between_items") { (path: String) -> AsyncThrowingStream<String, any Error> in
    AsyncThrowingStream { continuation in
        continuation.yield("first")
        Task {
            for _ in 0..<3000 where !FileManager.default.fileExists(atPath: path) {
                try await Task.sleep(for: .milliseconds(10))
            }
            continuation.yield("second")
            continuation.finish()
        }
    }
}

let batchedDouble = app.batchedFunction("batched_double", maxBatchSize: 4, wait: .milliseconds(200)) {
    (xs: [Int]) -> [BatchReport] in
    xs.map { BatchReport(batchSize: xs.count, value: $0 * 2) }
}

let batchedWrongLength = app.batchedFunction("batched_wrong_length", maxBatchSize: 4, wait: .milliseconds(100)) {
    (xs: [Int]) -> [Int] in
    Array(xs.dropFirst())
}

let batchedThrows = app.batchedFunction("batched_throws", maxBatchSize: 4, wait: .milliseconds(100)) {
    (xs: [Int]) async throws -> [Int] in
    if xs.contains(13) { throw PlainError() }
    return xs
}

let recorderClass = app.cls(Recorder.self, options: FunctionOptions(scaledownWindow: .seconds(1)))
let greet = recorderClass.method("greet") { (recorder: Recorder, name: String) in recorder.greet(name) }
let recorderPID = recorderClass.method("pid") { (_: Recorder) in ProcessInfo.processInfo.processIdentifier }
let failingEnter = app.cls(FailingEnter.self).method("run") { (_: FailingEnter) in 0 }

let touchFile = app.function("touch_file") { (path: String) -> Bool in
    FileManager.default.createFile(atPath: path, contents: Data())
}

let bigResult = app.function("big_result") { (size: Int) -> String in String(repeating: "x", count: size) }

let byteCount = app.function("byte_count") { (text: String) -> Int in text.utf8.count }

/// The container's environment variables whose names start with the prefix.
let environmentNames = app.function("environment_names") { (prefix: String) -> [String] in
    ProcessInfo.processInfo.environment.keys.filter { $0.hasPrefix(prefix) }.sorted()
}

/// The value of an environment variable of this container, if it has it.
let environmentValue = app.function("environment_value") { (key: String) -> String? in
    ProcessInfo.processInfo.environment[key]
}

/// "SECONDS:KEY": sleeps that long, then answers the value of environment variable KEY reversed (empty if unset),
/// so that a stored result is not a copy of the value.
let environmentValueLater = app.function("environment_value_later") { (job: String) -> String in
    let parts = job.split(separator: ":", maxSplits: 1).map(String.init)
    Thread.sleep(forTimeInterval: Double(parts.first ?? "") ?? 0)
    return String((ProcessInfo.processInfo.environment[parts.count > 1 ? parts[1] : ""] ?? "").reversed())
}

/// In dict NAME (of this container's control plane and workspace): writes "from-container" = 42 and answers the
/// value of "seed".
let dictRoundTrip = app.function("dict_round_trip") { (name: String) throws -> Int? in
    let dict = Dict<String, Int>.fromName(name)
    try dict.put("from-container", 42)
    return try dict.get("seed")
}

/// Puts VALUE on queue NAME ("NAME:VALUE") of this container's control plane.
let queuePut = app.function("queue_put") { (job: String) throws -> Bool in
    let parts = job.split(separator: ":").map(String.init)
    try Queue<Int>.fromName(parts[0]).put(Int(parts[1]) ?? 0)
    return true
}

/// Takes up to 100 items from queue NAME, waiting up to 5 s for the first; none when none came.
let queueTake = app.function("queue_take") { (name: String) throws -> [Int] in
    do {
        return try Queue<Int>.fromName(name).getMany(100, timeout: .seconds(5))
    } catch let error as AloftError where error.code == .queueEmpty {
        return []
    }
}

/// Puts items BLOCK×1,000 ..< (BLOCK+1)×1,000 on queue NAME ("NAME:BLOCK") in 10 batches of 100, each under an
/// idempotency key of its own: a run of the same input again (after a server restart) puts nothing twice.
let queueProduce = app.function("queue_produce") { (job: String) throws -> Int in
    let parts = job.split(separator: ":").map(String.init)
    let queue = Queue<Int>.fromName(parts[0])
    let block = Int(parts[1]) ?? 0
    for batch in 0..<10 {
        let first = block * 1_000 + batch * 100
        try queue.putMany(Array(first..<first + 100), idempotencyKey: "put-\(block)-\(batch)")
    }
    return 1_000
}

/// Takes 1,000 items from queue NAME ("NAME:BLOCK"), each get under a key derived from BLOCK and its step: a run of
/// the same input again replays the gets the first run made (the same items) and then goes on, so no item is taken
/// twice or lost with a container.
let queueConsume = app.function("queue_consume") { (job: String) throws -> [Int] in
    let parts = job.split(separator: ":").map(String.init)
    let queue = Queue<Int>.fromName(parts[0])
    var taken: [Int] = []
    var step = 0
    while taken.count < 1_000 {
        taken += try queue.getMany(
            min(100, 1_000 - taken.count), timeout: .seconds(120), idempotencyKey: "get-\(parts[1])-\(step)")
        step += 1
    }
    return taken
}

/// The signals this container's process ignores (`SigIgn` in /proc/self/status).
let ignoredSignals = app.function("ignored_signals") { () throws -> [Int32] in
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = status.split(separator: "\n").first { $0.hasPrefix("SigIgn:") } ?? ""
    let mask = UInt64(line.split(separator: "\t").last.map(String.init) ?? "", radix: 16) ?? 0
    return (1...64).filter { mask & (1 << UInt64($0 - 1)) != 0 }.map { Int32($0) }
}

/// What this container's process has open: the targets of /proc/self/fd.
let openFiles = app.function("open_files") { () throws -> [String] in
    try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0)
    }
}

/// Says hello to the control plane as a worker host with this container's own token, and returns the error code it
/// gets back ("accepted" if none): a container token must never admit a worker host.
let helloAsWorker = app.function("hello_as_worker") { () throws -> String in
    let environment = ProcessInfo.processInfo.environment
    let address = environment["ALOFT_CONTROL_PLANE"] ?? ""
    let socket: Int32
    if address.hasPrefix("unix:") {
        socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var target = sockaddr_un()
        target.sun_family = sa_family_t(AF_UNIX)
        let path = Array(address.dropFirst(5).utf8)
        withUnsafeMutableBytes(of: &target.sun_path) { bytes in for (i, byte) in path.enumerated() { bytes[i] = byte } }
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { return "cannot connect" }
    } else {
        return "not a unix socket: \(address)"
    }
    defer { close(socket) }
    var hello = Aloft_V1_Hello()
    hello.protocolVersion = 1
    hello.role = .worker
    hello.token = environment["ALOFT_TOKEN"] ?? ""
    let frame = try Aloft_V1_Envelope(requestID: 1, body: .hello(hello)).frameBytes()
    _ = frame.withUnsafeBytes { write(socket, $0.baseAddress, $0.count) }
    var header = [UInt8](repeating: 0, count: 4)
    guard read(socket, &header, 4) == 4 else { return "closed" }
    let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
    var body = [UInt8](repeating: 0, count: length)
    var got = 0
    while got < length {
        let count = body.withUnsafeMutableBytes { read(socket, $0.baseAddress! + got, length - got) }
        guard count > 0 else { return "closed" }
        got += count
    }
    let reply = try Aloft_V1_Envelope(serializedBytes: body)
    if case .error(let error) = reply.body { return error.code }
    return "accepted"
}

/// The executable this container runs (a deployed app's is the server's copy, named by its hash).
let executablePath = app.function("executable_path") { () throws -> String in
    try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
}

/// `x*x@host`: the square, and the worker host that ran it (`server` for the server's own host); sleeps `x % 3` ms.
let squareWhere = app.function("square_where") { (x: Int) -> String in
    Thread.sleep(forTimeInterval: Double(x % 3) / 1000)
    return "\(x * x)@\(ProcessInfo.processInfo.environment["ALOFT_WORKER_NAME"] ?? "server")"
}

/// Holds its bytes for 60 s (a test reads them where the server stored them meanwhile), then answers their count.
let holdBytes = app.function("hold_bytes") { (bytes: Data) -> Int in
    Thread.sleep(forTimeInterval: 60)
    return bytes.count
}

let reverseBytes = app.function("reverse_bytes") { (bytes: Data) -> Data in Data(bytes.reversed()) }

let repeatText = app.function("repeat_text") { (text: String, times: Int) -> String in
    String(repeating: text, count: times)
}

let blockingFunction = app.function("blocking_function") { () -> Int in 42 }

let asyncFunction = app.function("async_function") { () async throws -> Int in
    try await blockingFunction.remote() * 10
}

/// A blocking body that calls another function with the blocking form.
let blockingCaller = app.function("blocking_caller") { (x: Int) throws -> Int in
    try square.remote(x) + 1
}

// Web endpoints (WebEndpointTests): served by the server at /main/fixtures/<label>.
struct SquareRequest: Codable { var x: Int }
struct SquareReply: Codable {
    var square: Int
    var version: String
}
struct Greeting: Codable {
    var name: String
    var times: Int
}
struct Teapot: WebEndpointError, CustomStringConvertible {
    var httpStatus: Int { 418 }
    var description: String { "I'm a teapot" }
}
/// ALOFT_TEST_WEB_VERSION, when `aloft deploy` ran, is in the function's options: a redeploy with another value
/// changes them (new containers), and each reply says which version answered.
let webVersion = ProcessInfo.processInfo.environment["ALOFT_TEST_WEB_VERSION"] ?? "1"
_ = app.webEndpoint(
    "web_square", options: FunctionOptions(environment: ["ALOFT_TEST_WEB_VERSION": webVersion])
) { (request: SquareRequest) -> SquareReply in
    SquareReply(square: request.x * request.x, version: webVersion)
}
_ = app.webEndpoint("web_greet", method: .get) { (greeting: Greeting) -> String in
    Array(repeating: "hello \(greeting.name)", count: greeting.times).joined(separator: ", ")
}
_ = app.webEndpoint("web_fail") { (kind: String) throws -> Int in
    if kind == "teapot" { throw Teapot() }
    throw AloftError(.notFound, "no such thing")
}
_ = app.webEndpoint("web_slow", method: .get) { (query: [String: Double]) async throws -> String in
    try await Task.sleep(for: .milliseconds(Int((query["seconds"] ?? 0) * 1000)))
    return "done"
}
_ = app.webEndpoint("web_private", requiresAuth: true) { () async throws -> String in "secret" }
_ = app.webEndpoint(
    "web_concurrent", method: .get,
    options: FunctionOptions(maxContainers: 2).concurrent(maxInputs: 50)
) { (query: [String: Int]) async throws -> Int32 in
    try await Task.sleep(for: .milliseconds(query["ms"] ?? 0))
    return ProcessInfo.processInfo.processIdentifier
}

/// A raw handler: answers 201 with what it got (method, subpath with query, the X-Test header, the body), and a
/// header naming the method; below `/teapot` it throws a `WebEndpointError` before answering.
app.webHandler("web_raw") { request in
    if request.subpath.hasPrefix("/teapot") { throw Teapot() }
    var head = HTTPResponse(status: .created)
    head.headerFields[HTTPField.Name("X-Echo-Method")!] = request.head.method.rawValue
    let test = request.head.headerFields[HTTPField.Name("X-Test")!] ?? "-"
    let body = String(decoding: request.body, as: UTF8.self)
    return WebResponse(head, text: "\(request.head.method.rawValue) \(request.subpath) \(test) \(body)")
}
app.webHandler("web_raw_private", requiresAuth: true) { _ in WebResponse(text: "secret") }
/// Server-Sent Events: `one` at once, `two` only once the file the query's `marker` names exists (at most 30 s), so
/// a client gets `two` only if it got `one` while the response was still open.
app.webHandler("web_events") { request in
    let marker =
        URLComponents(string: request.subpath)?.queryItems?.first { $0.name == "marker" }?.value ?? "/nonexistent"
    let events = AsyncThrowingStream<String, any Error> { continuation in
        continuation.yield("one")
        Task {
            for _ in 0..<3000 where !FileManager.default.fileExists(atPath: marker) {
                try await Task.sleep(for: .milliseconds(10))
            }
            continuation.yield("two\nlines")
            continuation.finish()
        }
    }
    return .serverSentEvents(events)
}

// Scheduled functions, declared only when ALOFT_TEST_SCHEDULES names a set (ScheduleServerTests deploys them; the
// other tests deploy the app without). The variable is also in the functions' own environment, so that their
// containers declare them too.
switch ProcessInfo.processInfo.environment["ALOFT_TEST_SCHEDULES"] {
case "tick":
    /// Every second: puts the time it ran on queue `ticks`.
    _ = app.function(
        "tick", options: FunctionOptions(environment: ["ALOFT_TEST_SCHEDULES": "tick"], schedule: .period(.seconds(1)))
    ) { () throws -> Double in
        let now = Date().timeIntervalSince1970
        try Queue<Double>.fromName("ticks", createIfMissing: true).put(now)
        return now
    }
case "arguments":
    _ = app.function("scheduled_with_argument", options: FunctionOptions(schedule: .period(.minutes(1)))) {
        (x: Int) -> Int in x
    }
case "bad_cron":
    _ = app.function("bad_cron", options: FunctionOptions(schedule: .cron("61 * * * *"))) { () -> Int in 0 }
default:
    break
}

declareBoxFunctions(on: app)

app.main()
