#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import AloftControlPlane
import AloftCore
import AloftServer
import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `aloft serve PRODUCT`: Modal's `modal serve`. Starts a private server on this machine, deploys the app to it,
/// serves its web endpoints on a local port and rebuilds and redeploys whenever the package's sources change.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve an app's web endpoints on this machine while you develop it, redeployed on every change.",
        discussion: """
            Builds PRODUCT, starts a private aloft server (state in memory, in a temporary directory), deploys the \
            app to it and prints each endpoint's URL. Whenever a file of the package changes (.build, hidden \
            entries and Package.resolved aside), it rebuilds and deploys a new version: requests in flight finish \
            on the old one, new ones go to the new one, and a build that fails leaves the last good version \
            serving. With --executable it watches that file instead. Container output is printed here. Ctrl-C \
            stops the server and its containers.
            """
    )

    @OptionGroup var source: ExecutableSource

    @Option(name: .customLong("http-port"), help: "Port to serve the endpoints (and the HTTP API) on; 0 picks one.")
    var httpPort: Int = 8000

    @Flag(help: "Build in release mode (default: debug, which builds faster).")
    var release = false

    @Option(help: "Seconds between two looks at the sources.")
    var interval: Double = 1

    @Option(
        name: .customLong("log-level"),
        help: "The private server's log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "warning"

    func validate() throws {
        guard (0...65535).contains(httpPort) else { throw ValidationError("--http-port must be 0...65535") }
        guard interval > 0, interval <= 3600 else { throw ValidationError("--interval must be in (0, 3600] seconds") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        setvbuf(stdout, nil, _IOLBF, 0)  // each line as it is printed, also into a pipe or a file
        // Built before anything starts: a package that does not build starts no server.
        let executable = try source.path(release: release)
        var template = Array("/tmp/aloft-serve-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ValidationError("cannot make a temporary directory in /tmp: errno \(errno)")
        }
        let directory = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        var configuration = ServerConfiguration(
            host: "127.0.0.1", port: 0, dataDirectory: directory, store: .memory, logLevel: level)
        configuration.httpPort = httpPort
        // The user's own code on their own machine, as on the embedded default: plain processes, no box.
        configuration.isolation = .none
        var logger = Logger(label: "aloft.serve")
        logger.logLevel = level
        let server = try AloftServer(configuration: configuration, logger: logger)
        let watched = SourceTree(
            root: source.executable.map { URL(fileURLWithPath: $0).path }
                ?? URL(fileURLWithPath: source.packagePath ?? FileManager.default.currentDirectoryPath).path)
        let loop = RedeployLoop(
            server: server, source: source, release: release, watched: watched, interval: .seconds(interval),
            firstExecutable: executable)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: server),
                .init(service: loop, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(20)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

/// Deploys the app to the private server, then redeploys it each time its sources change, until shutdown.
private struct RedeployLoop: Service {
    let server: AloftServer
    let source: ExecutableSource
    let release: Bool
    let watched: SourceTree
    let interval: Duration
    let firstExecutable: String

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await redeployOnChanges() }
        } catch is CancellationError {
            // Ctrl-C or SIGTERM: the server stops next (its containers get their stop grace).
        }
    }

    private func redeployOnChanges() async throws {
        let api = try await serverAPI()
        var deployed = try await deployExecutable(at: firstExecutable, api: api)
        print("serving app '\(deployed.app)': watching \(watched.root) for changes; Ctrl-C stops")
        print("  this server's HTTP API: \(api.baseURL), its token in \(server.configuration.firstTokenPath)")
        var stamps = watched.stamps()
        while true {
            try await Task.sleep(for: interval)
            guard watched.stamps() != stamps else { continue }
            // Editors save several files at once: wait until the tree holds still for one interval.
            repeat {
                stamps = watched.stamps()
                try await Task.sleep(for: interval)
            } while watched.stamps() != stamps
            print("\(watched.root) changed: rebuilding and redeploying app '\(deployed.app)'")
            do {
                let executable = try await onOwnThread { [source, release] in try source.path(release: release) }
                deployed = try await deployExecutable(at: executable, api: api)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let reason = (error as? ValidationError).map { ": \($0.message)" } ?? ""
                FileHandle.standardError.write(
                    Data(
                        "aloft serve: not redeployed\(reason); still serving version \(deployed.version)\n".utf8))
            }
        }
    }

    /// The private server's HTTP API and its first token, once it listens (at most 30 s).
    private func serverAPI() async throws -> APIOptions {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let base = server.configuration.controlPlane.webAddresses.baseURL,
                let token = try? String(contentsOfFile: server.configuration.firstTokenPath, encoding: .utf8)
            {
                return try APIOptions.parse(
                    ["--api", base, "--token", token.trimmingCharacters(in: .whitespacesAndNewlines)])
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ValidationError("the private server did not start within 30 s")
    }
}

/// Runs `body`, which blocks (a build), on a thread of its own, so that the server in this process keeps its
/// threads for serving.
private func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// The files `aloft serve` watches: a package directory (without `.build*`, hidden entries and `Package.resolved`,
/// which a build rewrites) or one file.
struct SourceTree: Sendable {
    let root: String

    struct Stamp: Hashable {
        var modified: Date
        var size: Int
    }

    /// Each file's modification time and size, by path.
    func stamps() -> [String: Stamp] {
        let files = FileManager.default
        var stamps: [String: Stamp] = [:]
        func add(_ path: String) {
            guard let attributes = try? files.attributesOfItem(atPath: path),
                attributes[.type] as? FileAttributeType == .typeRegular
            else { return }
            stamps[path] = Stamp(
                modified: attributes[.modificationDate] as? Date ?? .distantPast,
                size: (attributes[.size] as? NSNumber)?.intValue ?? 0)
        }
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: root, isDirectory: &isDirectory) else { return [:] }
        guard isDirectory.boolValue, let walk = files.enumerator(atPath: root) else {
            add(root)
            return stamps
        }
        while let relative = walk.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            if name.hasPrefix(".") || name == "Package.resolved" {
                walk.skipDescendants()
                continue
            }
            add((root as NSString).appendingPathComponent(relative))
        }
        return stamps
    }
}
