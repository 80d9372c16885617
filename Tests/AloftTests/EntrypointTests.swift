import Foundation
import Testing

/// What `app.main()` runs from the command line: a named entrypoint with typed arguments, its help and usage, and a
/// clear error for a name it does not have.
@Suite("Entrypoints", .timeLimit(.minutes(3)))
struct EntrypointTests {
    func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await runProduct("aloft-test-app", arguments: arguments)
    }

    @Test("typed arguments are parsed from the command line; --help shows them; a bad value prints the usage")
    func typedArguments() async throws {
        let summed = try await run(["sum_squares", "--count", "4", "--verbose"])
        #expect(summed.status == 0, "\(summed.stderr)")
        #expect(summed.stdout.contains("square 3 = 9\n") && summed.stdout.contains("sum 14\n"), "\(summed.stdout)")
        let defaults = try await run(["sum_squares"])
        #expect(defaults.stdout.contains("sum 5\n"), "\(defaults.stdout)")
        let help = try await run(["sum_squares", "--help"])
        #expect(help.status == 0 && help.stdout.contains("--count <count>"), "\(help)")
        #expect(help.stdout.contains("How many squares to sum"))
        let bad = try await run(["sum_squares", "--count", "many"])
        #expect(bad.status != 0 && bad.stderr.contains("--count"), "\(bad)")
        #expect(!bad.stdout.contains("sum "), "nothing ran")
    }

    @Test("a first argument that names no entrypoint is an error listing them, and nothing runs")
    func unknownName() async throws {
        let mistyped = try await run(["sum_sqares", "--count", "2"])
        #expect(mistyped.status == 2, "\(mistyped)")
        #expect(mistyped.stderr.contains("error: no entrypoint named 'sum_sqares'"), "\(mistyped.stderr)")
        #expect(mistyped.stderr.contains("  sum_squares [--count <count>] [--verbose]"), "\(mistyped.stderr)")
        #expect(mistyped.stderr.contains("  noop\n") && !mistyped.stdout.contains("noop"), "\(mistyped)")
    }
}

@Suite("A new user's first package", .timeLimit(.minutes(3)))
struct NewPackageTests {
    @Test("aloft new writes a package whose manifest SwiftPM reads, depending on this checkout by path")
    func newPackage() async throws {
        let directory = temporaryPath("aloft-new")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let checkout = productsDirectory.appendingPathComponent("aloft").resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let created = try await runProduct("aloft", arguments: ["new", "demo-app", "--directory", directory])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("swift run demo-app"), "\(created.stdout)")
        let root = directory + "/demo-app"
        let main = try String(contentsOfFile: root + "/Sources/demo-app/main.swift", encoding: .utf8)
        #expect(main.contains("let app = App(\"demo-app\")"))
        // The template is the starter example (which this package builds and the next test runs), renamed.
        let starter = try String(
            contentsOf: URL(fileURLWithPath: checkout + "/Examples/starter/main.swift"), encoding: .utf8)
        #expect(main == starter.replacingOccurrences(of: "starter", with: "demo-app"))

        let dumped = try await runProcess(
            "/usr/bin/env", arguments: ["swift", "package", "--package-path", root, "dump-package"])
        #expect(dumped.status == 0, "\(dumped.stderr)")
        let manifest = try #require(
            try JSONSerialization.jsonObject(with: Data(dumped.stdout.utf8)) as? [String: Any])
        let dependency = "\(manifest["dependencies"] ?? "")"
        #expect(dependency.contains(checkout), "\(dependency)")
        #expect(dumped.stdout.contains("\"Aloft\""), "\(dumped.stdout)")

        let again = try await runProduct("aloft", arguments: ["new", "demo-app", "--directory", directory])
        #expect(again.status != 0 && again.stderr.contains("exists already"), "\(again)")
        let bad = try await runProduct("aloft", arguments: ["new", "9lives", "--directory", directory])
        #expect(bad.status != 0 && bad.stderr.contains("must start with a letter"), "\(bad)")
    }

    @Test("the starter app runs as built, with typed arguments")
    func starterRuns() async throws {
        let run = try await runProduct("starter", arguments: ["main", "--count", "4"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("square(7) = 49") && run.stdout.contains("add up to 14"), "\(run.stdout)")
        #expect(run.stdout.contains("squaring 3"), "container output comes back: \(run.stdout)")
    }
}
