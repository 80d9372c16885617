import ArgumentParser
import Foundation

/// `aloft queue list | peek | len | clear | delete`: queues of the token's workspace, through the HTTP API.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "List, peek at, count, clear and delete queues (items as JSON).",
        subcommands: [List.self, Peek.self, Len.self, Clear.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the workspace's named queues.")
        @OptionGroup var api: APIOptions

        func run() async throws {
            let reply = try expectSuccess(try await api.send("GET", "/v1/queues", body: nil), doing: "listing queues")
            for name in reply["queues"] as? [String] ?? [] { print(name) }
        }
    }

    struct Peek: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the first items of a partition, one JSON value per line, without taking them.")
        @Argument(help: "The queue's name.") var name: String
        @Option(help: "The partition (default: the default one).") var partition: String?
        @Option(help: "How many.") var count = 10
        @OptionGroup var api: APIOptions

        func run() async throws {
            var query = "limit=\(count)"
            if let partition { query += "&partition=\(pathComponent(partition))" }
            let reply = try expectSuccess(
                try await api.send("GET", "/v1/queues/\(pathComponent(name))/peek?\(query)", body: nil),
                doing: "peeking at queue \(name)")
            for item in reply["items"] as? [Any] ?? [] { print(try json(item)) }
        }
    }

    struct Len: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print how many items a partition holds.")
        @Argument(help: "The queue's name.") var name: String
        @Option(help: "The partition (default: the default one).") var partition: String?
        @Flag(help: "Count every partition.") var total = false
        @OptionGroup var api: APIOptions

        func run() async throws {
            var query = total ? "?total=true" : ""
            if let partition, !total { query = "?partition=\(pathComponent(partition))" }
            let reply = try expectSuccess(
                try await api.send("GET", "/v1/queues/\(pathComponent(name))\(query)", body: nil),
                doing: "counting queue \(name)")
            print(reply["count"] ?? 0)
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the items of a partition, or of all.")
        @Argument(help: "The queue's name.") var name: String
        @Option(help: "The partition (default: the default one).") var partition: String?
        @Flag(help: "Clear every partition.") var all = false
        @OptionGroup var api: APIOptions

        func run() async throws {
            var fields: [String: Any] = ["all": all]
            if let partition { fields["partition"] = partition }
            let reply = try expectSuccess(
                try await api.send(
                    "POST", "/v1/queues/\(pathComponent(name))/clear",
                    body: try JSONSerialization.data(withJSONObject: fields)),
                doing: "clearing queue \(name)")
            print("cleared queue \(name) (\(reply["removed"] ?? 0) items)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a queue and its items.")
        @Argument(help: "The queue's name.") var name: String
        @OptionGroup var api: APIOptions

        func run() async throws {
            try expectSuccess(
                try await api.send("DELETE", "/v1/queues/\(pathComponent(name))", body: nil),
                doing: "deleting queue \(name)")
            print("deleted queue \(name)")
        }
    }
}
