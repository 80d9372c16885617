import AloftCore
import ArgumentParser
import Foundation

/// `aloft run`: an app's entrypoint against a server, its functions running from an uploaded copy of the executable.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build an executable product and run its entrypoint against an aloft server.",
        discussion: """
            The executable is uploaded to the server's artifact store (once per content), then run here with \
            ALOFT_CONTROL_PLANE, ALOFT_TOKEN and ALOFT_ARTIFACT set: its functions run in containers started from \
            the uploaded copy, on the server's host or on worker hosts, and spawned calls outlive this run. Arguments \
            after -- go to the program. What its containers print is printed here too (and by the host that runs each \
            container), prefixed with the function and container.
            """
    )

    @OptionGroup var source: ExecutableSource

    @Flag(help: "Build in release mode.")
    var release = false

    @Option(help: "The server's wire address, host:port [$ALOFT_CONTROL_PLANE, default: the API's host, port 7480].")
    var server: String?

    @OptionGroup var api: APIOptions

    @Argument(parsing: .postTerminator, help: "Arguments for the program (after --).")
    var arguments: [String] = []

    func run() async throws {
        let path = try source.path(release: release)
        let (digest, _, _) = try await upload(path, api: api)
        var environment = ProcessInfo.processInfo.environment
        let settings = Settings(flags: [AloftEnvironment.controlPlaneAddress: server], environment: environment)
        environment[AloftEnvironment.controlPlaneAddress] =
            settings.value(AloftEnvironment.controlPlaneAddress) ?? api.defaultServerAddress
        environment[AloftEnvironment.artifact] = digest
        environment[AloftEnvironment.followLogs] = "1"
        if let token = api.resolvedToken { environment[AloftEnvironment.token] = token }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = environment
        try process.run()
        // Ctrl-C reaches the program too (same process group); it stops its calls and exits.
        signal(SIGINT, SIG_IGN)
        process.waitUntilExit()
        throw ExitCode(process.terminationStatus)
    }
}
