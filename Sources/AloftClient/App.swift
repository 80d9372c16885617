public import AloftCore
import AloftWire
import Foundation
import SwiftProtobuf
import Synchronization

/// Settings of an app that are not per function.
public struct AppConfiguration: Sendable {
    /// The executable containers run. Default: `ALOFT_CONTAINER_EXECUTABLE`, else the running executable.
    public var containerExecutable: String?
    /// Its arguments. Default: the running process's arguments.
    public var containerArguments: [String]?
    /// Environment variables of every function's containers; a function's own `environment` wins for a key both
    /// set.
    public var environment: [String: String]
    /// Secrets of every function's containers, before each function's own `secrets` (appended, as Modal's
    /// `App(secrets=)`).
    public var secrets: [Secret]

    public init(
        containerExecutable: String? = nil, containerArguments: [String]? = nil, environment: [String: String] = [:],
        secrets: [Secret] = []
    ) {
        self.containerExecutable = containerExecutable
        self.containerArguments = containerArguments
        self.environment = environment
        self.secrets = secrets
    }

    /// A function's options with the app's environment and secrets added, as they are registered.
    func withAppDefaults(_ options: FunctionOptions) -> FunctionOptions {
        var options = options
        options.environment = environment.merging(options.environment) { _, function in function }
        options.secrets = secrets + options.secrets
        return options
    }
}

/// A group of functions that are deployed and run together: Modal's `modal.App`.
///
/// Declare functions with `function(_:options:_:)` and entrypoints with `localEntrypoint(_:_:)` at the top level
/// of `main.swift`, then call `main()` last. Run normally, `main()` runs the entrypoints; started by the control
/// plane as a container, the same executable reaches `main()` with every function declared, and serves them.
public final class App: Sendable {
    public let name: String
    public let configuration: AppConfiguration
    let controlPlane: any ControlPlaneProvider
    let entrypoints = Mutex<[Entrypoint]>([])
    /// The functions declared at the top level, in order: the app's manifest for `aloft deploy`. Built only when the
    /// manifest is printed, so a container or a caller starting up does no work for it.
    private let declarations = Mutex<[@Sendable () -> Aloft_V1_FunctionRegister]>([])

    /// - Parameters:
    ///   - controlPlane: where calls go. `import Aloft` adds `App(_:)`, which uses the embedded control plane.
    public init(_ name: String, controlPlane: any ControlPlaneProvider, configuration: AppConfiguration = .init()) {
        self.name = name
        self.controlPlane = controlPlane
        self.configuration = configuration
    }

    var containerExecutable: String {
        if let executable = configuration.containerExecutable { return executable }
        if let executable = ProcessInfo.processInfo.environment[AloftEnvironment.containerExecutable],
            !executable.isEmpty
        {
            return executable
        }
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
    }

    var containerArguments: [String] {
        configuration.containerArguments ?? Array(CommandLine.arguments.dropFirst())
    }

    /// Makes errors of type `E` thrown by a function body reach the caller as themselves, not as `AloftError`.
    /// Register in both places by declaring it at the top level, next to the functions.
    public func registerError<E: Error & Codable>(_ type: E.Type) {
        ErrorRegistry.register(type)
    }

    /// Runs the app. Call it last, from the top level of `main.swift`.
    ///
    /// In a container it serves this executable's functions until the control plane stops it. Otherwise it runs
    /// the entrypoint named by the first command-line argument (with the arguments after it), or, with no argument
    /// or an option first, every entrypoint in declaration order, then stops the app's containers and exits
    /// (status 1, with the error on stderr, if an entrypoint threw). A first argument that names no entrypoint is
    /// an error that lists them (status 2).
    public func main() -> Never {
        if let containerID = ProcessInfo.processInfo.environment[AloftEnvironment.containerID], !containerID.isEmpty {
            ContainerServer.run(containerID: containerID)
        }
        if ProcessInfo.processInfo.environment[AloftEnvironment.printManifest] == "1" { printManifest() }
        if ProcessInfo.processInfo.environment[AloftEnvironment.followLogs] == "1" { followContainerOutput() }
        let declared = declarations.withLock { $0 }.map { $0() }
        warnAboutSchedules(declared)
        warnAboutWebEndpoints(declared)
        lineBufferStandardOutput()  // so the caller's lines and its containers' forwarded lines interleave in order
        stopOnInterrupt()
        let selected = selectEntrypoints(Array(CommandLine.arguments.dropFirst()))
        var status: Int32 = 0
        do {
            for entrypoint in selected {
                switch entrypoint {
                case .blocking(let body):
                    try body()
                case .async(let body):
                    let result = BlockingResult<Void>()
                    Task { do { result.set(.success(try await body())) } catch { result.set(.failure(error)) } }
                    try result.wait()
                }
            }
        } catch {
            // Its calls ended because it was interrupted: the signal handler stops the containers and exits.
            if App.interruption.load(ordering: .sequentiallyConsistent) != 0 { while true { sleep(3600) } }
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            status = 1
        }
        stop()
        exit(status)
    }

    func declare(_ registration: @escaping @Sendable () -> Aloft_V1_FunctionRegister) {
        declarations.withLock { $0.append(registration) }
    }

    /// `aloft deploy` runs the executable with `ALOFT_PRINT_MANIFEST=1` to learn its functions: their names and
    /// options, as JSON on standard output. Nothing else runs.
    private func printManifest() -> Never {
        var manifest = Aloft_V1_AppManifest()
        manifest.appName = name
        manifest.functions = declarations.withLock { $0 }.map { $0() }
        do {
            for function in manifest.functions { try Self.checkDeployable(function) }
            FileHandle.standardOutput.write(try manifest.jsonUTF8Data() + Data("\n".utf8))
            exit(0)
        } catch let error as AloftError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            exit(1)
        } catch {
            FileHandle.standardError.write(Data("error: could not encode the app's manifest: \(error)\n".utf8))
            exit(1)
        }
    }

    /// A function's options are valid and a scheduled function takes no arguments (the schedule calls it with none).
    static func checkDeployable(_ function: Aloft_V1_FunctionRegister) throws(AloftError) {
        let options = FunctionOptions(wire: function.options)
        do {
            try options.validate()
        } catch {
            throw AloftError(error.code, "function '\(function.functionName)': \(error.message)")
        }
        if let schedule = options.schedule, function.takesArguments {
            throw AloftError(
                .invalidConfiguration,
                "function '\(function.functionName)' has a schedule (\(schedule)) but takes arguments: a schedule calls "
                    + "its function with none")
        }
    }

    /// Schedules run only for deployed apps: a run of the app says so for each scheduled function it declares.
    private func warnAboutSchedules(_ declared: [Aloft_V1_FunctionRegister]) {
        for function in declared where function.options.hasSchedule {
            let schedule = Schedule(wire: function.options.schedule)
            FileHandle.standardError.write(
                Data(
                    ("warning: function '\(function.functionName)' has a schedule (\(schedule)), but schedules run only "
                        + "for deployed apps: `aloft deploy` the app to run it on its own\n").utf8))
        }
    }

    /// The embedded control plane serves no HTTP (the SDK holds no HTTP server): a run of an app with web endpoints on
    /// it names the commands that serve them. A run against a server is served by that server while it lasts.
    private func warnAboutWebEndpoints(_ declared: [Aloft_V1_FunctionRegister]) {
        guard AloftRuntime.shared.controlPlaneOverride == nil, !(controlPlane is RemoteControlPlane) else { return }
        let labels = declared.filter(\.hasWebEndpoint).map(\.functionName)
        guard !labels.isEmpty else { return }
        FileHandle.standardError.write(
            Data(
                ("note: the embedded control plane does not serve web endpoints (\(labels.joined(separator: ", "))): "
                    + "`aloft serve PRODUCT` serves them while you develop (redeployed on every change), "
                    + "`aloft deploy PRODUCT` on a server\n").utf8))
    }

    /// Asks the control plane to send this app's container output here (`aloft run`), where it is printed as it
    /// arrives. A control plane that cannot be reached now is reported by the first call instead.
    private func followContainerOutput() {
        let provider = controlPlane
        let appName = name
        _ = try? AloftRuntime.shared.runBlocking(asyncForm: "follow") {
            var follow = Aloft_V1_LogsFollow()
            follow.appName = appName
            _ = try await AloftRuntime.shared.connection(for: provider).request(.logsFollow(follow))
        }
    }

    /// Ctrl-C (SIGINT) or SIGTERM while the entrypoints run: stop the app's containers (their running inputs get
    /// the stop grace, then SIGKILL), so that no process is left behind, and exit with 128 + the signal.
    private func stopOnInterrupt() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                // Set first: the calls that stopping ends make the entrypoint fail, and `main()` then exits as
                // interrupted too.
                App.interruption.store(128 + signalNumber, ordering: .sequentiallyConsistent)
                FileHandle.standardError.write(Data("\naloft: interrupted; stopping the app's containers\n".utf8))
                stop()
                exit(128 + signalNumber)
            }
            source.resume()
            App.signalSources.append(source)
        }
    }

    /// The exit status of an interrupted `main()` (128 + the signal), or 0.
    private static let interruption = Atomic<Int32>(0)

    /// Kept alive for the life of the process; written only by `main()`, on the main thread.
    nonisolated(unsafe) private static var signalSources: [any DispatchSourceSignal] = []

    /// Stops the app's containers (for the embedded control plane). `main()` calls it; tests may too.
    public func stop() {
        let provider = controlPlane
        _ = try? AloftRuntime.shared.runBlocking(asyncForm: "await app.stop()") { await provider.shutdown() }
    }
}
