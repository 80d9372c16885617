import ArgumentParser
import Foundation

/// `aloft app logs APP`: what an app's containers printed, kept by the server; `--follow` goes on printing what
/// they print next, through restarts of the server.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract:
            "Print what an app's containers printed (the newest lines, or --since), and with --follow what they print next.",
        discussion: """
            Each line shows when the server read it, the function, the container and, where one input was running in \
            the container, its call. Lines a container wrote to standard error go to standard error. A follow that \
            loses the server reconnects and goes on after the last line it printed.
            """)

    @Argument(help: "The app's name.") var app: String
    @Option(help: "Only this function's (or class method's) lines.") var function: String?
    @Option(name: .customLong("call"), help: "Only the lines of this call (fc-…).") var callID: String?
    @Option(name: .customLong("container"), help: "Only this container's lines (ctr-…).") var containerID: String?
    @Option(help: "Lines from this long ago on (90s, 10m, 2h, 1d) or from an ISO 8601 time.") var since: String?
    @Option(help: "Without --since: how many of the newest lines to print.") var tail = 100
    @Flag(name: .shortAndLong, help: "Go on printing new lines until interrupted.") var follow = false
    @Flag(help: "One JSON object per line, as the HTTP API gives them.") var json = false
    @OptionGroup var api: APIOptions

    func run() async throws {
        var parameters = [URLQueryItem]()
        if let function { parameters.append(URLQueryItem(name: "function", value: function)) }
        if let callID { parameters.append(URLQueryItem(name: "call", value: callID)) }
        if let containerID { parameters.append(URLQueryItem(name: "container", value: containerID)) }
        var first = parameters
        if let since {
            first.append(URLQueryItem(name: "since", value: since))
        } else {
            first.append(URLQueryItem(name: "tail", value: String(tail)))
        }
        var (after, count) = try await page(first)
        // `--since` may select more than one reply holds: the pages that follow, until one comes back short.
        while since != nil, count >= LogsCommand.pageSize {
            (after, count) = try await page(parameters + [URLQueryItem(name: "after", value: String(after))])
        }
        guard follow else { return }
        var lost = false
        while !Task.isCancelled {
            let next =
                parameters + [
                    URLQueryItem(name: "after", value: String(after)), URLQueryItem(name: "wait", value: "25"),
                ]
            do {
                (after, _) = try await page(next, reportingUnreachable: false) {
                    guard lost else { return }
                    FileHandle.standardError.write(Data("aloft: reconnected; following on\n".utf8))
                    lost = false
                }
            } catch is UnreachableServer {
                if !lost {
                    FileHandle.standardError.write(
                        Data("aloft: lost the server at \(api.baseURL); reconnecting…\n".utf8))
                    lost = true
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    private struct UnreachableServer: Error {}

    /// Lines asked for per reply (the server's default `limit`).
    static let pageSize = 1_000

    /// Prints one reply's lines; returns the sequence to go on after, and how many lines it had.
    /// `reached` runs once the server answered, before the lines are printed.
    private func page(
        _ items: [URLQueryItem], reportingUnreachable: Bool = true, reached: () -> Void = {}
    ) async throws -> (after: UInt64, lines: Int) {
        var components = URLComponents()
        components.queryItems = items
        let path = "/v1/apps/\(pathComponent(app))/logs?\(components.percentEncodedQuery ?? "")"
        let reply: (status: Int, body: Data)
        if reportingUnreachable {
            reply = try await api.send("GET", path, body: nil)
        } else {
            do {
                reply = try await api.request("GET", path, body: nil)
            } catch {
                throw UnreachableServer()
            }
            // A server that is starting again answers nothing useful for a moment.
            if reply.status == 503 || reply.status == 0 { throw UnreachableServer() }
        }
        reached()
        let object = try expectSuccess(reply, doing: "reading the logs of '\(app)'")
        let lines = object["lines"] as? [[String: Any]] ?? []
        for line in lines { print(line) }
        return ((object["next_after"] as? NSNumber)?.uint64Value ?? 0, lines.count)
    }

    private func print(_ line: [String: Any]) {
        let standardError = line["stream"] as? String == "stderr"
        var text: String
        if json {
            let data =
                (try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes]))
            text = data.map { String(decoding: $0, as: UTF8.self) } ?? ""
        } else {
            let call = (line["call_id"] as? String).map { " \($0)" } ?? ""
            text =
                "\(line["time"] ?? "") \(line["function"] ?? "") \(line["container"] ?? "")\(call)  \(line["text"] ?? "")"
        }
        text += "\n"
        if standardError && !json {
            FileHandle.standardError.write(Data(text.utf8))
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}
