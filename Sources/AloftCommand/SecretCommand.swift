import AloftCore
import ArgumentParser
import Foundation

/// `aloft secret create | list | delete`: named secrets of the token's workspace, through the server's HTTP API
/// (the running server keeps them, sealed in its store). Values are sent once and never printed.
struct SecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Create, list and delete named secrets (environment variables for functions' containers).",
        subcommands: [Create.self, List.self, Delete.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a named secret from KEY=VALUE pairs and/or a dotenv file.",
            discussion: """
                Values given as arguments are visible to other users of this machine while the command runs (and \
                may stay in your shell's history): prefer --from-dotenv for real credentials. Containers started \
                after a --force replacement get the new values; running ones keep theirs.
                """)

        @Argument(help: "The secret's name: 1 to 64 letters, digits, '-', '_' or '.'.") var name: String
        @Argument(help: "KEY=VALUE pairs.") var pairs: [String] = []
        @Option(name: .customLong("from-dotenv"), help: "Read KEY=VALUE lines from this dotenv file.")
        var dotenv: String?
        @Flag(help: "Replace the secret if it exists.") var force = false
        @OptionGroup var api: APIOptions

        func run() async throws {
            var values: [String: String] = [:]
            if let dotenv {
                guard case .values(let fromFile) = try Secret.fromDotenv(dotenv).source else { return }
                values = fromFile
            }
            for pair in pairs {
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                    throw ValidationError("expected KEY=VALUE, got '\(pair.prefix(while: { $0 != "=" }))…'")
                }
                values[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            guard !values.isEmpty else { throw ValidationError("give at least one KEY=VALUE or --from-dotenv FILE") }
            let body = try JSONSerialization.data(withJSONObject: ["name": name, "values": values, "force": force])
            try expectSuccess(try await api.send("POST", "/v1/secrets", body: body), doing: "creating secret \(name)")
            print("created secret \(name) with keys \(values.keys.sorted().joined(separator: ", "))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List named secrets: name, keys, created, updated (never values).")
        @OptionGroup var api: APIOptions

        func run() async throws {
            let reply = try expectSuccess(try await api.send("GET", "/v1/secrets", body: nil), doing: "listing secrets")
            for secret in reply["secrets"] as? [[String: Any]] ?? [] {
                let keys = (secret["keys"] as? [String] ?? []).joined(separator: ",")
                print(
                    ["\(secret["name"] ?? "")", keys, "\(secret["created_at"] ?? "")", "\(secret["updated_at"] ?? "")"]
                        .joined(separator: "\t"))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a named secret (running containers keep their values; new ones cannot start).")
        @Argument(help: "The secret's name.") var name: String
        @OptionGroup var api: APIOptions

        func run() async throws {
            try expectSuccess(
                try await api.send("DELETE", "/v1/secrets/\(pathComponent(name))", body: nil),
                doing: "deleting secret \(name)")
            print("deleted secret \(name)")
        }
    }
}
