import ArgumentParser
import Foundation

/// `aloft app list | history | logs | stop | rollback`: deployed apps.
struct AppCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "app",
        abstract: "List deployed apps, read their logs, stop them and roll them back.",
        subcommands: [List.self, History.self, LogsCommand.self, Stop.self, Rollback.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List deployed apps: name, live version (or stopped), versions, last deployed.")
        @OptionGroup var api: APIOptions

        func run() async throws {
            let reply = try expectSuccess(try await api.send("GET", "/v1/apps", body: nil), doing: "listing apps")
            let schedules = try await AppCommand.schedules(path: "/v1/schedules", api: api)
            for app in reply["apps"] as? [[String: Any]] ?? [] {
                let name = "\(app["name"] ?? "")"
                let live = (app["live_version"] as? Int).map { "v\($0)" } ?? "stopped"
                print(
                    [name, live, "\(app["versions"] ?? 0) versions", "\(app["deployed_at"] ?? "")"]
                        .joined(separator: "\t"))
                for schedule in schedules where schedule["app"] as? String == name {
                    print("  " + AppCommand.describe(schedule))
                }
            }
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List an app's versions: version, deployed, executable, functions, live.")
        @Argument(help: "The app's name.") var app: String
        @OptionGroup var api: APIOptions

        func run() async throws {
            let reply = try expectSuccess(
                try await api.send("GET", "/v1/apps/\(pathComponent(app))/versions", body: nil),
                doing: "reading the history")
            for version in reply["versions"] as? [[String: Any]] ?? [] {
                let functions = (version["functions"] as? [String] ?? []).joined(separator: ",")
                print(
                    [
                        "v\(version["version"] ?? "")", "\(version["deployed_at"] ?? "")",
                        String("\(version["artifact"] ?? "")".prefix(12)),
                        functions, (version["live"] as? Bool ?? false) ? "live" : "",
                    ].joined(separator: "\t"))
            }
            for line in try await AppCommand.scheduleLines(app: app, api: api) { print(line) }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Stop an app: its functions take no more calls and its containers exit (deploy or roll back to start it again)."
        )
        @Argument(help: "The app's name.") var app: String
        @OptionGroup var api: APIOptions

        func run() async throws {
            try expectSuccess(
                try await api.send("POST", "/v1/apps/\(pathComponent(app))/stop", body: nil), doing: "stopping '\(app)'"
            )
            print("stopped app '\(app)'")
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an earlier version of an app live again (default: the one before the live version).")
        @Argument(help: "The app's name.") var app: String
        @Argument(help: "The version to make live.") var version: Int?
        @OptionGroup var api: APIOptions

        func run() async throws {
            let body = try version.map { try JSONSerialization.data(withJSONObject: ["version": $0]) }
            let reply = try expectSuccess(
                try await api.send("POST", "/v1/apps/\(pathComponent(app))/rollback", body: body),
                doing: "rolling back '\(app)'")
            print("app '\(app)' is live at version \(reply["version"] ?? "?")")
        }
    }

    /// The schedules `path` lists (`/v1/schedules` or an app's).
    static func schedules(path: String, api: APIOptions) async throws -> [[String: Any]] {
        let reply = try expectSuccess(try await api.send("GET", path, body: nil), doing: "listing schedules")
        return reply["schedules"] as? [[String: Any]] ?? []
    }

    /// One line per scheduled function of `app`.
    static func scheduleLines(app: String, api: APIOptions) async throws -> [String] {
        try await schedules(path: "/v1/apps/\(pathComponent(app))/schedules", api: api).map(describe)
    }

    /// `schedule F: every 5min; next 2026-…; last 2026-… succeeded (fc-…)`.
    static func describe(_ schedule: [String: Any]) -> String {
        var text = "schedule \(schedule["function"] ?? ""): \(schedule["schedule"] ?? "")"
        if let next = schedule["next_run"] as? String { text += "; next \(next)" }
        if let last = schedule["last_run"] as? String {
            text += "; last \(last) \(schedule["last_status"] as? String ?? "")"
            if let error = schedule["last_error"] as? String { text += ": \(error)" }
            if let call = schedule["last_call_id"] as? String { text += " (\(call))" }
        } else {
            text += "; not run yet"
        }
        return text
    }
}
