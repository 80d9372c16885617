import AloftControlPlane
import AloftCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension Dashboard {
    /// The app page's live parts as Server-Sent Events: the newest 100 log lines (of the page's filters; after a
    /// reconnect, those after the last it saw) and then each new one as a `log` event, and the `functions` and `calls` tables re-rendered every 2 s. Ends when the
    /// browser goes or the server stops.
    static func live(_ app: String, workspace: String, request: Request, _ controlPlane: ControlPlane) -> Response {
        let parameters = request.uri.queryParameters
        func filter(_ name: Substring) -> String? {
            parameters[name].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        }
        var start = LogQuery(
            workspace: workspace, app: app, function: filter("function"), callID: filter("call"), limit: 100,
            newest: true)
        // A browser that reconnects says which line it saw last: it gets the lines after it, none twice.
        // A number past the log's (its numbering restarted with a server that keeps no log store) starts afresh.
        if let lastEventID = request.headers[HTTPField.Name("Last-Event-ID")!], let after = UInt64(lastEventID),
            after <= controlPlane.lastLogSequence
        {
            start.after = after
            start.newest = false
            start.limit = 500
        }
        let first = start
        return HTTPAPI.eventStream { writer in
            var cursor = LogCursor(first, followLimit: 500)
            try await writer.write(HTTPAPI.logEvents(try await cursor.start(controlPlane), event: "log"))
            var lastTables = ContinuousClock.now - .seconds(10)
            while !Task.isCancelled {
                if ContinuousClock.now - lastTables >= .seconds(2) {
                    lastTables = .now
                    var buffer = ByteBuffer()
                    HTTPAPI.serverSentEvent(
                        "functions", try await functionsFragment(app, workspace: workspace, controlPlane),
                        into: &buffer)
                    HTTPAPI.serverSentEvent(
                        "calls", try await callsFragment(app, workspace: workspace, controlPlane), into: &buffer)
                    try await writer.write(buffer)
                }
                guard let lines = await cursor.next(controlPlane, timeout: .seconds(1)) else { break }
                if !lines.isEmpty { try await writer.write(HTTPAPI.logEvents(lines, event: "log")) }
            }
        }
    }

    /// The home page's tables, re-rendered every 2 s as `home` events, until the browser goes or the server stops.
    static func homeLive(workspace: String, _ controlPlane: ControlPlane) -> Response {
        HTTPAPI.eventStream { writer in
            while !Task.isCancelled {
                let tables = try render("homeTables", try await home(workspace, controlPlane))
                var buffer = ByteBuffer()
                HTTPAPI.serverSentEvent("home", tables, into: &buffer)
                try await writer.write(buffer)
                try await Task.sleep(for: .seconds(2))
            }
        }
    }

    /// A running call as it goes on: its `summary` table whenever it changes (and every 2 s), the lines its containers print for it
    /// after line `after` as `log` events, and `done` once it has finished (after the lines that arrive within a
    /// second of its end). A call no longer among the latest is `done` at once.
    static func callLive(_ id: String, after: UInt64, workspace: String, _ controlPlane: ControlPlane) -> Response {
        HTTPAPI.eventStream { writer in
            var cursor = LogCursor(
                LogQuery(workspace: workspace, callID: id, after: after, limit: 500), followLimit: 500)
            var shown: CallSummary?
            var shownAt = ContinuousClock.now
            var finishedAt: ContinuousClock.Instant?
            while !Task.isCancelled {
                var buffer = ByteBuffer()
                let call = try await controlPlane.recentCall(workspace: workspace, id: id)
                // When it changed, and every 2 s while it runs (its duration grows).
                if let call, call != shown || ContinuousClock.now - shownAt >= .seconds(2) {
                    shown = call
                    shownAt = .now
                    HTTPAPI.serverSentEvent("summary", try render("callSummary", callValues(call)), into: &buffer)
                }
                if call?.finished != nil || call == nil, finishedAt == nil { finishedAt = .now }
                if let finishedAt, ContinuousClock.now - finishedAt >= .seconds(1) {
                    HTTPAPI.serverSentEvent("done", "", into: &buffer)
                    try await writer.write(buffer)
                    break
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
                guard let lines = await cursor.next(controlPlane, timeout: .milliseconds(500)) else { break }
                if !lines.isEmpty { try await writer.write(HTTPAPI.logEvents(lines, event: "log")) }
            }
        }
    }
}
