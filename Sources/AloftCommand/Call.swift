import AloftCore
import ArgumentParser
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `aloft call`: a function of an app registered with a server, through its HTTP/JSON API.
struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call a function registered with an aloft server and print its result as JSON.",
        discussion: """
            The function is named APP.FUNCTION: a function of an app deployed with `aloft deploy`, or one that a \
            run of the app against the server registered. The argument is the JSON the Swift SDK encodes \
            (a function of two arguments takes {"first": …, "second": …}; Data is base64). With --spawn it \
            prints the call's id instead; `aloft result ID` fetches the result later.
            """
    )

    @Argument(help: "APP.FUNCTION, for example hello.square.")
    var function: String

    @Option(help: "The argument as JSON (none for a function without arguments).")
    var json: String?

    @Flag(help: "Spawn the call and print its id instead of waiting for the result.")
    var spawn = false

    @OptionGroup var api: APIOptions

    func run() async throws {
        guard let dot = function.firstIndex(of: "."), dot != function.startIndex,
            dot != function.index(before: function.endIndex)
        else {
            throw ValidationError("name the function as APP.FUNCTION, for example hello.square (got '\(function)')")
        }
        let app = function[..<dot]
        let name = function[function.index(after: dot)...]
        let path = "/v1/apps/\(app)/functions/\(name)/\(spawn ? "spawn" : "call")"
        let reply = try await api.send("POST", path, body: json.map { Data($0.utf8) })
        try printOutcome(reply, field: spawn ? "call_id" : "result")
    }
}

/// `aloft result`: the result of a spawned call.
struct CallResult: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "result",
        abstract: "Print the result of a spawned call as JSON, waiting for it up to --timeout seconds."
    )

    @Argument(help: "The call's id (fc-…).")
    var callID: String

    @Option(help: "Seconds to wait for the call to finish (0: do not wait).")
    var timeout: Double = 60

    @OptionGroup var api: APIOptions

    func run() async throws {
        let reply = try await api.send("GET", "/v1/calls/\(callID)?timeout=\(timeout)", body: nil)
        if reply.status == 202 {
            FileHandle.standardError.write(Data("aloft: call \(callID) has not finished within \(timeout) s\n".utf8))
            throw ExitCode(2)
        }
        try printOutcome(reply, field: "result")
    }
}

struct APIOptions: ParsableArguments {
    @Option(
        name: .customLong("api"),
        help: "The server's HTTP API [$ALOFT_API_URL, default http://127.0.0.1:\(AloftPorts.http)].")
    var url: String?

    @Option(help: "The client token to present [$ALOFT_TOKEN].")
    var token: String?

    private var settings: Settings {
        Settings(
            flags: [AloftEnvironment.apiURL: url, AloftEnvironment.token: token],
            environment: ProcessInfo.processInfo.environment)
    }
    var baseURL: String { settings.value(AloftEnvironment.apiURL) ?? "http://127.0.0.1:\(AloftPorts.http)" }
    var resolvedToken: String? { settings.value(AloftEnvironment.token) }
    /// The server's wire address when only its API is known: the same host, the default wire port.
    var defaultServerAddress: String { "\(URLComponents(string: baseURL)?.host ?? "127.0.0.1"):\(AloftPorts.wire)" }

    func send(_ method: String, _ path: String, body: Data?) async throws -> (status: Int, body: Data) {
        let base = baseURL
        do {
            return try await request(method, path, body: body)
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(
                Data(
                    "aloft: cannot reach the server's HTTP API at \(base): \(error.localizedDescription) (is `aloft server` running? --api or ALOFT_API_URL names another)\n"
                        .utf8))
            throw ExitCode(3)
        }
    }

    /// `send` without its handling of an unreachable server: the error is the caller's (a follower retries).
    func request(_ method: String, _ path: String, body: Data?) async throws -> (status: Int, body: Data) {
        let base = baseURL
        guard let target = URL(string: base + path) else { throw ValidationError("'\(base)' is not a URL") }
        var request = URLRequest(url: target)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 3600
        if let token = resolvedToken {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }
}

/// Prints `field` of a successful reply (as JSON) on standard output, or the error on standard error (exit 1).
private func printOutcome(_ reply: (status: Int, body: Data), field: String) throws {
    let object = try? JSONSerialization.jsonObject(with: reply.body, options: [.fragmentsAllowed]) as? [String: Any]
    if (200..<300).contains(reply.status), let value = object?[field] {
        let text =
            (try? JSONSerialization.data(
                withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]))
            .map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
        print(text)
        return
    }
    if let error = object?["error"] as? [String: Any] {
        FileHandle.standardError.write(Data("aloft: \(error["code"] ?? "error"): \(error["message"] ?? "")\n".utf8))
    } else {
        FileHandle.standardError.write(
            Data("aloft: the server answered \(reply.status): \(String(decoding: reply.body, as: UTF8.self))\n".utf8))
    }
    throw ExitCode.failure
}
