import ArgumentParser
import Foundation

/// `aloft new NAME`: a package with one Aloft app that builds and runs on the first try.
struct NewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Create a Swift package with an Aloft app in a new directory NAME.",
        discussion: """
            The package depends on Aloft by path: the checkout this `aloft` was built in (found next to the \
            executable), or --aloft-path. Then: cd NAME && swift run NAME (the first build takes minutes).
            """)

    @Argument(help: "The package's, executable's and app's name (letters, digits, - and _).") var name: String
    @Option(help: "The Aloft checkout to depend on (default: the one this aloft was built in).") var aloftPath: String?
    @Option(help: "Where to create the directory NAME.") var directory = "."

    func validate() throws {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }),
            name.first?.isLetter == true
        else {
            throw ValidationError("the name '\(name)' must start with a letter and hold only letters, digits, - and _")
        }
    }

    func run() throws {
        guard let checkout = aloftPath.map({ URL(fileURLWithPath: $0).standardizedFileURL.path }) ?? Self.ownCheckout()
        else {
            throw ValidationError("cannot find the Aloft checkout this aloft was built in: pass --aloft-path")
        }
        let root = URL(fileURLWithPath: directory).appendingPathComponent(name)
        guard !FileManager.default.fileExists(atPath: root.path) else {
            throw ValidationError("\(root.path) exists already")
        }
        let sources = root.appendingPathComponent("Sources").appendingPathComponent(name)
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        try Self.manifest(name: name, checkout: checkout).write(
            to: root.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try Self.mainSwift(name: name).write(
            to: sources.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
        try ".build/\nPackage.resolved\n".write(
            to: root.appendingPathComponent(".gitignore"), atomically: true, encoding: .utf8)
        print("created \(root.path): cd \(root.path) && swift run \(name)")
    }

    /// The package manifest: Aloft by path (a path dependency's package identity is its directory's name).
    static func manifest(name: String, checkout: String) -> String {
        let identity = URL(fileURLWithPath: checkout).lastPathComponent
        func literal(_ text: String) -> String {
            text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        }
        return """
            // swift-tools-version: 6.2
            import PackageDescription

            let package = Package(
                name: "\(name)",
                platforms: [.macOS(.v15)],
                dependencies: [
                    // A path dependency is known by its directory's name; from a repository it would be
                    // .package(url: "https://github.com/OWNER/aloft", branch: "main") and package: "aloft".
                    .package(path: "\(literal(checkout))")
                ],
                targets: [
                    .executableTarget(
                        name: "\(name)",
                        dependencies: [.product(name: "Aloft", package: "\(literal(identity))")]
                    )
                ]
            )

            """
    }

    /// Examples/starter/main.swift with the app named `name`.
    static func mainSwift(name: String) -> String {
        """
        // An Aloft app: `swift run \(name)` runs `main` (its functions run in containers of the embedded control plane);
        // `swift run \(name) main --count 100` passes it arguments; `swift run \(name) main --help` lists them.
        import Aloft

        let app = App("\(name)")

        /// Runs in a container, one input at a time; what it prints comes back to this terminal.
        let square = app.function("square") { (x: Int) -> Int in
            print("squaring \\(x)")
            return x * x
        }

        struct MainArguments: ParsableArguments {
            @Option(help: "How many numbers to square, from 0.") var count = 10
        }

        app.localEntrypoint("main") { (arguments: MainArguments) async throws in
            print("square(7) = \\(try await square.remote(7))")
            var total = 0
            for try await squared in square.map(Array(0..<arguments.count)) { total += squared }
            print("the squares of 0..<\\(arguments.count) add up to \\(total)")
        }

        app.main()

        """
    }

    /// The checkout whose `.build` holds this executable: the nearest directory above it with a Package.swift of
    /// package "aloft".
    static func ownCheckout() -> String? {
        // This process's executable (argv[0] is only `aloft` when the shell found it on the PATH).
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        while url.path != "/" {
            let manifest = url.appendingPathComponent("Package.swift")
            if let text = try? String(contentsOf: manifest, encoding: .utf8), text.contains("name: \"aloft\"") {
                return url.path
            }
            url.deleteLastPathComponent()
        }
        return nil
    }
}
