import AloftControlPlane
import AloftCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

// What an app's containers printed (`aloft app logs`): read, long-polled, or followed as Server-Sent Events.
//
//     GET /v1/apps/{app}/logs?function=F&call=ID&container=ID&since=10m|ISO-8601&after=SEQ&limit=N&tail=N&wait=S
//         ->  200 {"lines": [{"seq", "time", "app", "function", "container", "host", "call_id", "input", "stream",
//                  "text"}], "next_after": SEQ}
//     The oldest `limit` lines from `since` or after sequence `after`; with neither, the newest `tail` (100). With
//     `wait` (seconds, at most 30) and nothing to give yet, the reply waits that long for a first line. A follower
//     asks again with `after=next_after`.
//     With `Accept: text/event-stream` (or `follow=true`): Server-Sent Events, one `id: SEQ` / `data: {line}` event
//     per line from there on, a comment every 15 s while there are none; `Last-Event-ID` resumes after that line.

extension HTTPAPI {
    static let maxReplyTextBytes = 8 << 20

    static func addLogs(to routes: RouterGroup<APIRequestContext>, controlPlane: ControlPlane) {
        routes.get("apps/:app/logs") { request, context -> Response in
            let app = try context.parameters.require("app")
            let parameters = request.uri.queryParameters
            var query = try logQuery(parameters, workspace: context.workspace, app: app)
            let follow =
                parameters["follow"].map { $0 == "true" || $0 == "1" } ?? false
                || request.headers[.accept]?.contains("text/event-stream") == true
            if let lastEventID = request.headers[HTTPField.Name("Last-Event-ID")!], let after = UInt64(lastEventID) {
                query.after = after
                query.newest = false
            }
            if follow { return stream(query, controlPlane: controlPlane) }
            let cursor = controlPlane.lastLogSequence
            let wait = try parameters["wait"].map { text -> Duration in
                guard let seconds = Double(String(text)), seconds >= 0, seconds <= 30 else {
                    throw AloftError(.invalidArgument, "wait is a number of seconds, at most 30")
                }
                return .milliseconds(Int64(seconds * 1000))
            }
            var lines =
                if let wait, !query.newest {
                    try await controlPlane.waitForLogLines(query, timeout: wait)
                } else {
                    try await controlPlane.logLines(query)
                }
            // At most 8 MiB of text in one reply (10,000 lines of 16 KiB would be 160 MiB): the rest comes next.
            var bytes = 0
            if let cut = lines.firstIndex(where: { line in
                bytes += line.text.utf8.count
                return bytes > maxReplyTextBytes
            }), cut > 0 {
                lines.removeSubrange(cut...)
            }
            // Nothing matched up to `cursor`: the next request starts there, not where this one did.
            let next = lines.last?.sequence ?? max(query.after, cursor)
            let formatter = timeFormatter()
            return try object(.ok, ["lines": lines.map { json($0, formatter) }, "next_after": next])
        }
    }

    /// The query the parameters ask for, in `workspace`.
    private static func logQuery(_ parameters: Parameters, workspace: String, app: String) throws -> LogQuery {
        func text(_ name: Substring) -> String? { parameters[name].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
        func number(_ name: Substring) throws -> Int? {
            guard let value = text(name) else { return nil }
            guard let number = Int(value), number >= 0 else {
                throw AloftError(.invalidArgument, "\(name) is a whole number, not '\(value)'")
            }
            return number
        }
        var query = LogQuery(
            workspace: workspace, app: app, function: text("function"), callID: text("call"),
            containerID: text("container"))
        if let since = text("since") {
            if let age = Duration(humanReadable: since) {
                query.since = Date().addingTimeInterval(-age.seconds)
            } else if let date = try? Date(since, strategy: .iso8601) {
                query.since = date
            } else {
                throw AloftError(
                    .invalidArgument, "since is an age such as 10m, 2h or 1d, or an ISO 8601 time, not '\(since)'")
            }
        }
        if let after = try number("after") { query.after = UInt64(after) }
        if let limit = try number("limit") { query.limit = max(1, min(limit, LogQuery.maxLimit)) }
        if query.since == nil && text("after") == nil {
            query.newest = true
            query.limit = max(1, min(try number("tail") ?? 100, LogQuery.maxLimit))
        }
        return query
    }

    /// Server-Sent Events from `query` on: each line as it comes, a comment every 15 s so that a client sees the
    /// connection alive. Ends when the client goes or the server stops.
    private static func stream(_ start: LogQuery, controlPlane: ControlPlane) -> Response {
        eventStream { writer in
            var cursor = LogCursor(start, followLimit: 1_000)
            try await writer.write(logEvents(try await cursor.start(controlPlane)))
            while !Task.isCancelled, let lines = await cursor.next(controlPlane, timeout: .seconds(15)) {
                try await writer.write(lines.isEmpty ? ByteBuffer(string: ": waiting\n\n") : logEvents(lines))
            }
        }
    }

    /// A Server-Sent Events response: `write` writes its events; the body ends when it returns.
    static func eventStream(
        _ write: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void
    ) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                try await write(&writer)
                try await writer.finish(nil)
            })
    }

    /// `lines` as Server-Sent Events (of type `event`, if given): `id: SEQ`, then the line's JSON.
    static func logEvents(_ lines: [LogLine], event: String? = nil) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        let formatter = timeFormatter()
        for line in lines {
            let data = try JSONSerialization.data(
                withJSONObject: json(line, formatter), options: [.sortedKeys, .withoutEscapingSlashes])
            serverSentEvent(event, String(decoding: data, as: UTF8.self), id: line.sequence, into: &buffer)
        }
        return buffer
    }

    /// One Server-Sent Event: each line of `data` on a `data:` line of its own.
    static func serverSentEvent(_ name: String?, _ data: String, id: UInt64? = nil, into buffer: inout ByteBuffer) {
        if let id { buffer.writeString("id: \(id)\n") }
        if let name { buffer.writeString("event: \(name)\n") }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            buffer.writeString("data: \(line)\n")
        }
        buffer.writeString("\n")
    }

    private static func timeFormatter() -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }

    static func json(_ line: LogLine, _ formatter: ISO8601DateFormatter) -> [String: Any] {
        [
            "seq": line.sequence, "time": formatter.string(from: line.time), "app": line.app,
            "function": line.function, "container": line.containerID, "host": line.host,
            "call_id": line.callID ?? NSNull(), "input": line.inputIndex.map { $0 as Any } ?? NSNull(),
            "stream": line.standardError ? "stderr" : "stdout", "text": line.text,
        ]
    }
}

/// A follower's place in the log (the SSE route, the dashboard's live page): the newest lines first when its query
/// asks for them, then what comes next, its position moved past lines that did not match so that a wait never reads
/// them again.
struct LogCursor {
    private var query: LogQuery
    private let followLimit: Int

    init(_ query: LogQuery, followLimit: Int) {
        self.query = query
        self.followLimit = followLimit
    }

    /// The newest lines of a `newest` query (nothing for one that starts at a position); then it follows.
    mutating func start(_ controlPlane: ControlPlane) async throws -> [LogLine] {
        guard query.newest else { return [] }
        let position = controlPlane.lastLogSequence
        let recent = try await controlPlane.logLines(query)
        query.after = recent.last?.sequence ?? position
        query.newest = false
        query.limit = followLimit
        return recent
    }

    /// The next lines, none if `timeout` passes first, or nil once the server is stopping.
    mutating func next(_ controlPlane: ControlPlane, timeout: Duration) async -> [LogLine]? {
        let position = controlPlane.lastLogSequence
        guard let lines = try? await controlPlane.waitForLogLines(query, timeout: timeout) else { return nil }
        // Nothing matched up to `position`: the next wait need not read those lines again.
        query.after = lines.last?.sequence ?? max(query.after, position)
        return lines
    }
}
