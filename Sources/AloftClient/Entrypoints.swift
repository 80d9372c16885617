public import ArgumentParser
import Foundation
import Synchronization

// Entrypoints: what `app.main()` runs outside a container (Modal's `@app.local_entrypoint()`), with untyped or
// typed command-line arguments.

extension App {
    struct Entrypoint: @unchecked Sendable {  // run only on the thread that calls main()
        /// Parses the entrypoint's arguments (exiting with its usage if they do not parse, or its help) and returns
        /// the body to run.
        let prepare: ([String]) -> Runnable
        let name: String
        /// The usage of its arguments, for the app's help; nil for an entrypoint that takes none.
        let usage: String?
    }

    enum Runnable {
        case blocking(() throws -> Void)
        case async(@Sendable () async throws -> Void)
    }

    /// A synchronous entrypoint: Modal's `@app.local_entrypoint()` on a `def`.
    public func localEntrypoint(_ name: String = "main", _ body: @escaping () throws -> Void) {
        add(Entrypoint(prepare: { _ in .blocking(body) }, name: name, usage: nil))
    }

    /// An async entrypoint: Modal's `@app.local_entrypoint()` on an `async def`.
    public func localEntrypoint(_ name: String = "main", _ body: @escaping @Sendable () async throws -> Void) {
        add(Entrypoint(prepare: { _ in .async(body) }, name: name, usage: nil))
    }

    /// A synchronous entrypoint with typed arguments, as Modal's entrypoints take a function's parameters from the
    /// command line: `swift run app main --count 10` parses `--count 10` into `Arguments` (a swift-argument-parser
    /// `ParsableArguments` type); `--help` prints its help; arguments that do not parse print its usage and exit.
    public func localEntrypoint<Arguments: ParsableArguments>(
        _ name: String = "main", _ body: @escaping (Arguments) throws -> Void
    ) {
        add(
            Entrypoint(
                prepare: { arguments in
                    let parsed = Self.parse(Arguments.self, arguments, entrypoint: name)
                    return .blocking { try body(parsed) }
                }, name: name, usage: Arguments.usageString(for: name)))
    }

    /// An async entrypoint with typed arguments (see the synchronous form).
    public func localEntrypoint<Arguments: ParsableArguments & Sendable>(
        _ name: String = "main", _ body: @escaping @Sendable (Arguments) async throws -> Void
    ) {
        add(
            Entrypoint(
                prepare: { arguments in
                    let parsed = Self.parse(Arguments.self, arguments, entrypoint: name)
                    return .async { try await body(parsed) }
                }, name: name, usage: Arguments.usageString(for: name)))
    }

    private func add(_ entrypoint: Entrypoint) {
        entrypoints.withLock { $0.append(entrypoint) }
    }

    /// The entrypoints the command line asks for, prepared with their arguments: the one the first argument names
    /// (given the rest), or, with no argument or an option first, all of them in order (each given every argument).
    /// Exits for a first argument that names none (status 2) and for `--help` without typed entrypoints (status 0).
    func selectEntrypoints(_ arguments: [String]) -> [Runnable] {
        let all = entrypoints.withLock { $0 }
        guard !all.isEmpty else { return [] }
        if let first = arguments.first, let named = all.first(where: { $0.name == first }) {
            return [named.prepare(Array(arguments.dropFirst()))]
        }
        if let first = arguments.first, !first.hasPrefix("-") {
            FileHandle.standardError.write(
                Data("error: no entrypoint named '\(first)'. \(entrypointList(all))\n".utf8))
            exit(2)
        }
        if arguments == ["--help"] || arguments == ["-h"], all.allSatisfy({ $0.usage == nil }) {
            print(entrypointList(all))
            exit(0)
        }
        return all.map { $0.prepare(arguments) }
    }

    private func entrypointList(_ all: [Entrypoint]) -> String {
        let lines = all.map { "  \($0.usage ?? $0.name)" }.joined(separator: "\n")
        return """
            The entrypoints of app '\(name)' (run one by naming it first; with no name, all run in this order):
            \(lines)
            """
    }

    private static func parse<Arguments: ParsableArguments>(
        _ type: Arguments.Type, _ arguments: [String], entrypoint: String
    ) -> Arguments {
        do {
            return try Arguments.parse(arguments)
        } catch {
            Arguments.exit(withError: error)  // its help (status 0), or the error and its usage
        }
    }
}

extension ParsableArguments {
    /// `NAME` followed by the arguments' synopsis.
    fileprivate static func usageString(for name: String) -> String {
        let usage = usageString().replacingOccurrences(of: "Usage: ", with: "")
        return "\(name) \(usage.split(separator: " ", maxSplits: 1).dropFirst().first ?? "")"
            .trimmingCharacters(in: .whitespaces)
    }
}
