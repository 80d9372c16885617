import ArgumentParser
import Foundation

/// `aloft dict list | get | items | clear | delete`: dicts of the token's workspace, through the HTTP API. Keys
/// are given and values printed as JSON.
struct DictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dict",
        abstract: "List, read, clear and delete dicts (keys and values as JSON).",
        subcommands: [List.self, Get.self, Items.self, Clear.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the workspace's named dicts.")
        @OptionGroup var api: APIOptions

        func run() async throws {
            let reply = try expectSuccess(try await api.send("GET", "/v1/dicts", body: nil), doing: "listing dicts")
            for name in reply["dicts"] as? [String] ?? [] { print(name) }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the value of a key (JSON: a string key is given as '\"name\"'); exit 1 if absent.")
        @Argument(help: "The dict's name.") var name: String
        @Argument(help: "The key, as JSON.") var key: String
        @OptionGroup var api: APIOptions

        func run() async throws {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(key.utf8), options: [.fragmentsAllowed])
            else { throw ValidationError("the key must be JSON, such as '\"name\"' or '42'") }
            let body = try JSONSerialization.data(withJSONObject: ["key": parsed])
            let reply = try expectSuccess(
                try await api.send("POST", "/v1/dicts/\(pathComponent(name))/get", body: body),
                doing: "reading dict \(name)")
            guard reply["found"] as? Bool == true, let value = reply["value"] else {
                FileHandle.standardError.write(Data("aloft: dict \(name) has no such key\n".utf8))
                throw ExitCode.failure
            }
            print(try json(value))
        }
    }

    struct Items: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every entry, one per line: the key's JSON, a tab, the value's JSON.")
        @Argument(help: "The dict's name.") var name: String
        @OptionGroup var api: APIOptions

        func run() async throws {
            var after = ""
            repeat {
                let query = after.isEmpty ? "" : "?after=\(pathComponent(after))"
                let reply = try expectSuccess(
                    try await api.send("GET", "/v1/dicts/\(pathComponent(name))/items\(query)", body: nil),
                    doing: "reading dict \(name)")
                for item in reply["items"] as? [[String: Any]] ?? [] {
                    print("\(try json(item["key"] ?? NSNull()))\t\(try json(item["value"] ?? NSNull()))")
                }
                after = reply["next"] as? String ?? ""
            } while !after.isEmpty
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every entry of a dict.")
        @Argument(help: "The dict's name.") var name: String
        @OptionGroup var api: APIOptions

        func run() async throws {
            let reply = try expectSuccess(
                try await api.send("POST", "/v1/dicts/\(pathComponent(name))/clear", body: nil),
                doing: "clearing dict \(name)")
            print("cleared dict \(name) (\(reply["removed"] ?? 0) entries)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a dict and its entries.")
        @Argument(help: "The dict's name.") var name: String
        @OptionGroup var api: APIOptions

        func run() async throws {
            try expectSuccess(
                try await api.send("DELETE", "/v1/dicts/\(pathComponent(name))", body: nil),
                doing: "deleting dict \(name)")
            print("deleted dict \(name)")
        }
    }
}

/// A JSON value as one line, object keys sorted (how `aloft dict` and `aloft queue` print keys, values and items).
func json(_ value: Any) throws -> String {
    String(
        decoding: try JSONSerialization.data(
            withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]),
        as: UTF8.self)
}
