import AloftCore
import ArgumentParser
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `aloft deploy`: builds an app's executable, uploads it to the server's artifact store and registers its functions
/// as the app's new live version.
struct Deploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build an executable product in release mode and deploy its app to an aloft server.",
        discussion: """
            The app's functions are read from the executable itself (it prints its manifest when run with \
            ALOFT_PRINT_MANIFEST=1), the executable is uploaded once per content (by SHA-256), and the app gets a new \
            version that serves calls at once: `aloft call APP.FUNCTION`, Function.lookup(app:name:) from Swift, or \
            the HTTP API. Containers run the uploaded copy, on the server's host or on worker hosts.
            """
    )

    @OptionGroup var source: ExecutableSource

    @OptionGroup var api: APIOptions

    func run() async throws {
        try await deployExecutable(at: try source.path(release: true), api: api)
    }
}

/// What a deploy made: the app and its new live version.
struct DeployedApp {
    var app: String
    var version: Int
}

/// Reads the app manifest of the executable at `path`, uploads it and deploys its app as a new live version, printing
/// what was deployed and where each web endpoint is served.
@discardableResult
func deployExecutable(at path: String, api: APIOptions) async throws -> DeployedApp {
    let manifestJSON = try readManifest(of: path)
    guard let manifest = try? JSONSerialization.jsonObject(with: manifestJSON) as? [String: Any],
        let app = manifest["appName"] as? String, !app.isEmpty
    else {
        throw ValidationError(
            "\(path) did not print an app manifest: is it an aloft app whose main.swift ends with app.main()?")
    }
    let functions = (manifest["functions"] as? [[String: Any]] ?? []).compactMap { $0["functionName"] as? String }
    guard !functions.isEmpty else { throw ValidationError("app '\(app)' declares no functions: nothing to deploy") }

    let (digest, size, uploaded) = try await upload(path, api: api)
    let request = try JSONSerialization.data(withJSONObject: ["artifact": digest, "manifest": manifest])
    let reply = try expectSuccess(
        try await api.send("POST", "/v1/apps/\(pathComponent(app))/deploy", body: request), doing: "deploying")
    let version = reply["version"] as? Int ?? 0
    print("deployed app '\(app)' version \(version): \(functions.joined(separator: ", "))")
    print("  executable \(digest.prefix(12)) (\(size), \(uploaded ? "uploaded" : "already on the server"))")
    print("  call it: aloft call \(app).\(functions[0]) --json '…'")
    for line in try await AppCommand.scheduleLines(app: app, api: api) { print("  " + line) }
    // Each web endpoint's URL, as the server serves it (`Function.webURL()` answers the same).
    let urls = reply["endpoints"] as? [String: String] ?? [:]
    for function in manifest["functions"] as? [[String: Any]] ?? [] {
        guard let endpoint = function["webEndpoint"] as? [String: Any], let label = function["functionName"] as? String,
            let url = urls[label]
        else { continue }
        // A raw handler (`app.webHandler`) answers every method, at its URL and below.
        let method = endpoint["raw"] as? Bool == true ? "*" : endpoint["method"] as? String ?? "POST"
        print("  endpoint \(label): \(method) \(url)\((endpoint["requiresAuth"] as? Bool ?? false) ? " (token)" : "")")
    }
    return DeployedApp(app: app, version: version)
}

/// Runs the executable with ALOFT_PRINT_MANIFEST=1 and returns what it printed.
private func readManifest(of path: String) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    var environment = ProcessInfo.processInfo.environment
    environment[AloftEnvironment.printManifest] = "1"
    environment[AloftEnvironment.containerID] = nil
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ValidationError("\(path) exited with status \(process.terminationStatus) when asked for its manifest")
    }
    // The manifest is the last line: top-level code may print before app.main().
    let lines = output.split(separator: UInt8(ascii: "\n"))
    return lines.last.map { Data($0) } ?? Data()
}

/// The executable `aloft deploy` and `aloft run` upload: a product they build, or one built already.
struct ExecutableSource: ParsableArguments {
    @Argument(help: "The executable product to build (as in `swift build --product`).")
    var product: String?

    @Option(help: "Use this already-built executable instead of building PRODUCT.")
    var executable: String?

    @Option(name: .customLong("package-path"), help: "The Swift package to build (default: the current directory).")
    var packagePath: String?

    func validate() throws {
        guard (product == nil) != (executable == nil) else {
            throw ValidationError("name a PRODUCT to build, or an already-built --executable (one of the two)")
        }
    }

    /// The executable's path, building the product first when one is named.
    func path(release: Bool) throws -> String {
        let path =
            try executable.map { URL(fileURLWithPath: $0).path }
            ?? buildProduct(product!, release: release, packagePath: packagePath)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError("\(path) is not an executable file")
        }
        return path
    }
}

/// `swift build [-c release] --product P`, then the path of the product it built.
private func buildProduct(_ product: String, release: Bool, packagePath: String?) throws -> String {
    let configuration = release ? ["-c", "release"] : []
    let package = packagePath.map { ["--package-path", $0] } ?? []
    let arguments = ["build"] + configuration + ["--product", product] + package
    FileHandle.standardError.write(Data("building \(product)\(release ? " (release)" : "")…\n".utf8))
    let status = try runSwift(arguments, captureOutput: false).status
    guard status == 0 else {
        throw ValidationError("`swift \(arguments.joined(separator: " "))` failed (exit \(status))")
    }
    let binPath = try runSwift(["build"] + configuration + ["--show-bin-path"] + package, captureOutput: true)
    return (String(decoding: binPath.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) as NSString)
        .appendingPathComponent(product)
}

private func runSwift(_ arguments: [String], captureOutput: Bool) throws -> (status: Int32, output: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["swift"] + arguments
    let pipe = Pipe()
    if captureOutput { process.standardOutput = pipe }
    try process.run()
    let output = captureOutput ? pipe.fileHandleForReading.readDataToEndOfFile() : Data()
    process.waitUntilExit()
    return (process.terminationStatus, output)
}

/// `text` as one URL path segment (an app name may hold any character).
func pathComponent(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
}

/// The reply's JSON object when the status is 2xx; else prints the server's error and exits 1.
@discardableResult
func expectSuccess(_ reply: (status: Int, body: Data), doing what: String) throws -> [String: Any] {
    let object = (try? JSONSerialization.jsonObject(with: reply.body)) as? [String: Any]
    if (200..<300).contains(reply.status) { return object ?? [:] }
    if let error = object?["error"] as? [String: Any] {
        FileHandle.standardError.write(
            Data("aloft: \(what) failed: \(error["code"] ?? "error"): \(error["message"] ?? "")\n".utf8))
    } else {
        FileHandle.standardError.write(Data("aloft: \(what) failed: the server answered \(reply.status)\n".utf8))
    }
    throw ExitCode.failure
}
