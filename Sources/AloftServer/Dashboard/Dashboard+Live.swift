import AloftControlPlane
import AloftCore
import Foundation
import Hummingbird
import NIOCore

extension Dashboard {
    /// The app page's live parts as Server-Sent Events: the newest 100 log lines (of the page's filters) and then
    /// each new one as a `log` event, and the `functions` and `calls` tables re-rendered every 2 s. Ends when the
    /// browser goes or the server stops.
    static func live(_ app: String, workspace: String, request: Request, _ controlPlane: ControlPlane) -> Response {
        let parameters = request.uri.queryParameters
        func filter(_ name: Substring) -> String? {
            parameters[name].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        }
        let start = LogQuery(
            workspace: workspace, app: app, function: filter("function"), callID: filter("call"), limit: 100,
            newest: true)
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                var query = start
                let cursor = controlPlane.lastLogSequence
                let recent = try await controlPlane.logLines(query)
                try await writer.write(logEvents(recent))
                query.after = recent.last?.sequence ?? cursor
                query.newest = false
                query.limit = 500
                var lastTables = ContinuousClock.now - .seconds(10)
                while !Task.isCancelled {
                    if ContinuousClock.now - lastTables >= .seconds(2) {
                        lastTables = .now
                        var buffer = ByteBuffer()
                        event(
                            "functions", try await functionsFragment(app, workspace: workspace, controlPlane),
                            into: &buffer)
                        event("calls", try await callsFragment(app, workspace: workspace, controlPlane), into: &buffer)
                        try await writer.write(buffer)
                    }
                    let lines: [LogLine]
                    let cursor = controlPlane.lastLogSequence
                    do {
                        lines = try await controlPlane.waitForLogLines(query, timeout: .seconds(1))
                    } catch {
                        break  // the server is stopping
                    }
                    // Nothing matched up to `cursor`: the next wait need not read those lines again.
                    query.after = lines.last?.sequence ?? max(query.after, cursor)
                    if !lines.isEmpty { try await writer.write(logEvents(lines)) }
                }
                try await writer.finish(nil)
            })
    }

    private static func logEvents(_ lines: [LogLine]) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for line in lines {
            let data = try JSONSerialization.data(
                withJSONObject: HTTPAPI.json(line, formatter), options: [.sortedKeys, .withoutEscapingSlashes])
            event("log", String(decoding: data, as: UTF8.self), id: line.sequence, into: &buffer)
        }
        return buffer
    }

    /// One event: each line of `data` on a `data:` line of its own.
    private static func event(_ name: String, _ data: String, id: UInt64? = nil, into buffer: inout ByteBuffer) {
        if let id { buffer.writeString("id: \(id)\n") }
        buffer.writeString("event: \(name)\n")
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            buffer.writeString("data: \(line)\n")
        }
        buffer.writeString("\n")
    }
}
