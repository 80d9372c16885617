import AloftControlPlane
import AloftCore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The web dashboard on the HTTP port (docs/dashboard.md):
///
///     GET  /dashboard/login, POST /dashboard/login (form: token), POST /dashboard/logout
///     GET  /dashboard                    apps, worker hosts, schedules, latest calls
///     GET  /dashboard/live               Server-Sent Events: the `home` tables every 2 s
///     GET  /dashboard/apps/{app}         functions and their containers, web endpoints, calls, live log tail
///                                        (?function=&call=)
///     GET  /dashboard/apps/{app}/live    Server-Sent Events: `functions` and `calls` fragments every 2 s, `log` lines
///     GET  /dashboard/calls/{id}         one call: status, inputs, error, result, its containers' output
///     GET  /dashboard/calls/{id}/live    Server-Sent Events (?after=N): `summary` when it changes, `log` lines, `done`
///
/// A login keeps the client token in an HttpOnly, SameSite=Strict cookie for /dashboard; every page shows only
/// that token's workspace.
enum Dashboard {
    static let cookie = "aloft_token"

    static func add(
        to router: Router<APIRequestContext>, controlPlane: ControlPlane, authenticator: any ClientAuthenticator
    ) {
        router.get("dashboard/login") { _, _ in html(try render("login", [:])) }
        router.post("dashboard/login") { request, _ -> Response in
            var request = request
            let body = try await HTTPAPI.collect(&request, upTo: 4096, what: "a login")
            let token = formValue("token", in: String(buffer: body)) ?? ""
            guard (try? await authenticator.workspace(forToken: token, kind: .client)) != nil else {
                return html(try render("login", ["error": "That token is not a valid client token."]), .unauthorized)
            }
            var headers = HTTPFields()
            headers[.location] = "/dashboard"
            headers[.setCookie] = "\(cookie)=\(token); Path=/dashboard; HttpOnly; SameSite=Strict"
            return Response(status: .seeOther, headers: headers)
        }
        router.post("dashboard/logout") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.location] = "/dashboard/login"
            headers[.setCookie] = "\(cookie)=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0"
            return Response(status: .seeOther, headers: headers)
        }
        let pages = router.group("dashboard").add(middleware: DashboardSession(authenticator: authenticator))
        pages.get { _, context in
            let tables = try render("homeTables", try await home(context.workspace, controlPlane))
            return try await page("Apps", workspace: context.workspace, template: "home", ["tables": tables])
        }
        pages.get("live") { _, context in
            homeLive(workspace: context.workspace, controlPlane)
        }
        pages.get("apps/:app") { request, context in
            let app = try context.parameters.require("app")
            let values = try await appPage(app, workspace: context.workspace, request: request, controlPlane)
            return try await page(app, workspace: context.workspace, template: "app", values)
        }
        pages.get("apps/:app/live") { request, context in
            let app = try context.parameters.require("app")
            return live(app, workspace: context.workspace, request: request, controlPlane)
        }
        pages.get("calls/:id") { _, context in
            let id = try context.parameters.require("id")
            guard let call = try await controlPlane.recentCall(workspace: context.workspace, id: id) else {
                return html(
                    try layout(
                        "Call", workspace: context.workspace,
                        body: "<p>No call <code>\(escape(id))</code> among this workspace's latest calls.</p>"),
                    .notFound)
            }
            let values = try await callPage(call, workspace: context.workspace, controlPlane)
            return try await page("Call \(id)", workspace: context.workspace, template: "call", values)
        }
        pages.get("calls/:id/live") { request, context in
            let id = try context.parameters.require("id")
            var after = request.uri.queryParameters["after"].flatMap { UInt64(String($0)) } ?? 0
            // A browser that reconnects says which line it saw last (a number past the log's is ignored, as on the
            // app page): it gets the lines after it, none twice.
            if let lastEventID = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap(UInt64.init),
                lastEventID <= controlPlane.lastLogSequence
            {
                after = max(after, lastEventID)
            }
            return callLive(id, after: after, workspace: context.workspace, controlPlane)
        }
    }

    // MARK: Pages

    static func home(_ workspace: String, _ controlPlane: ControlPlane) async throws -> [String: Any] {
        let versions = try await controlPlane.appVersions(workspace: workspace)
        let apps = Dictionary(grouping: versions, by: \.appName).sorted { $0.key < $1.key }.map {
            name, versions -> [String: Any] in
            [
                "name": name, "versions": versions.count,
                "live": versions.first(where: \.live).map { "v\($0.version)" } ?? "stopped",
                "deployed": time(versions.map(\.createdAt).max() ?? Date()),
            ]
        }
        let schedules = try await controlPlane.schedules(workspace: workspace).map { status -> [String: Any] in
            [
                "app": status.appName, "function": status.function, "schedule": "\(status.schedule)",
                "next": status.nextRun.map(time) ?? "", "last": status.lastRun.map(time) ?? "",
                "status": HTTPAPI.json(status)["last_status"] as? String ?? "",
            ]
        }
        let workers = try await controlPlane.workerViews(workspace: workspace).map { worker -> [String: Any] in
            ["name": worker.name, "containers": worker.containers, "cpus": worker.cpus, "memoryMiB": worker.memoryMiB]
        }
        let calls = try await controlPlane.recentCalls(workspace: workspace, limit: 20)
        return [
            "apps": apps, "schedules": schedules, "workers": workers,
            "calls": try render("calls", ["calls": calls.map(callValues)]),
        ]
    }

    private static func appPage(
        _ app: String, workspace: String, request: Request, _ controlPlane: ControlPlane
    ) async throws -> [String: Any] {
        let versions = try await controlPlane.appVersions(workspace: workspace).filter { $0.appName == app }
        let versionLine =
            if let live = versions.first(where: \.live) {
                "Live version v\(live.version) of \(versions.count), deployed \(time(live.createdAt))."
            } else if versions.isEmpty {
                "Not deployed: its functions ran from `swift run` or `aloft run` against this server."
            } else {
                "Stopped (\(versions.count) versions)."
            }
        let parameters = request.uri.queryParameters
        return [
            "app": app, "versionLine": versionLine,
            "function": parameters["function"].map(String.init) ?? "",
            "call": parameters["call"].map(String.init) ?? "",
            "functions": try await functionsFragment(app, workspace: workspace, controlPlane),
            "endpoints": try await endpointsFragment(app, workspace: workspace, controlPlane),
            "calls": try await callsFragment(app, workspace: workspace, controlPlane),
        ]
    }

    /// The app's web endpoints with their URLs; nothing when it has none.
    static func endpointsFragment(_ app: String, workspace: String, _ controlPlane: ControlPlane) async throws -> String
    {
        let endpoints = try await controlPlane.webEndpoints(workspace: workspace, app: app).map {
            endpoint -> [String: Any] in
            var values: [String: Any] = [
                "label": endpoint.label,
                "method": endpoint.info.isRaw ? "any (raw handler)" : endpoint.info.method,
                "access": endpoint.info.requiresAuth ? "client token" : "public",
            ]
            if let url = endpoint.url { values["url"] = url }
            return values
        }
        return try render("endpoints", ["endpoints": endpoints, "any": !endpoints.isEmpty])
    }

    /// A call's page: its summary, the first 500 lines its containers printed for it, and for a running call the
    /// position its live stream goes on from.
    private static func callPage(
        _ call: CallSummary, workspace: String, _ controlPlane: ControlPlane
    ) async throws -> [String: Any] {
        let position = controlPlane.lastLogSequence
        // From its start: the store reads only the segments written since.
        let limit = 500
        let lines = try await controlPlane.logLines(
            LogQuery(
                workspace: workspace, app: call.app, callID: call.id, since: call.started.addingTimeInterval(-1),
                limit: limit))
        var values: [String: Any] = [
            "id": call.id, "summary": try render("callSummary", callValues(call)), "lines": lines.map(logValues),
        ]
        if call.finished == nil {
            values["live"] = true
            // Lines after those shown; past `position` when they were all (none printed since is missed or twice).
            let last = lines.last?.sequence ?? 0
            values["after"] = lines.count < limit ? max(last, position) : last
        }
        return values
    }

    static func functionsFragment(_ app: String, workspace: String, _ controlPlane: ControlPlane) async throws -> String
    {
        // Functions with containers, a backlog or inputs in the last five minutes get a row; the rest one line.
        let functions = try await controlPlane.functionViews(workspace: workspace, app: app)
        let active = functions.filter { !$0.containers.isEmpty || $0.backlog > 0 || $0.callsPerMinute > 0 }
        let idle = functions.filter { function in !active.contains { $0.name == function.name } }.map(\.name)
        var values: [String: Any] = ["functions": active.map(functionValues), "any": !functions.isEmpty]
        if !idle.isEmpty { values["idle"] = idle.joined(separator: ", ") }
        return try render("functions", values)
    }

    static func callsFragment(_ app: String, workspace: String, _ controlPlane: ControlPlane) async throws -> String {
        let calls = try await controlPlane.recentCalls(workspace: workspace, app: app, limit: 50)
        return try render("calls", ["calls": calls.map(callValues)])
    }

    // MARK: Rendering

    private static func page(
        _ title: String, workspace: String, template: String, _ values: [String: Any]
    ) async throws -> Response {
        var values = values
        values["workspace"] = workspace
        let body = try render(template, values)
        return html(try layout(title, workspace: workspace, body: body))
    }

    private static func layout(_ title: String, workspace: String, body: String) throws -> String {
        try render("layout", ["title": title, "workspace": workspace, "body": body])
    }

    static func render(_ template: String, _ values: [String: Any]) throws -> String {
        guard let text = DashboardTemplates.library.render(values, withTemplate: template) else {
            throw AloftError(.internalFailure, "the dashboard has no template '\(template)'")
        }
        return text
    }

    static func html(_ text: String, _ status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func functionValues(_ function: FunctionView) -> [String: Any] {
        var values: [String: Any] = [
            "name": function.name, "backlog": function.backlog, "running": function.running,
            "containerCount": function.containers.count, "perMinute": String(format: "%.1f", function.callsPerMinute),
            "failuresPerMinute": String(format: "%.1f", function.failuresPerMinute),
            "p50": function.p50.map(milliseconds) ?? "–", "p99": function.p99.map(milliseconds) ?? "–",
            "stopped": function.stopped,
            "containers": function.containers.map { container -> [String: Any] in
                var values: [String: Any] = [
                    "id": container.id, "host": container.host, "state": container.state,
                    "uptime": seconds(container.uptimeSeconds), "served": container.served,
                    "running": container.running,
                ]
                if let usage = container.usage {
                    let cores = usage.cpuSeconds / max(container.uptimeSeconds, 0.001)
                    values["usage"] =
                        "CPU \(String(format: "%.2f", usage.cpuSeconds)) s (\(String(format: "%.2f", cores)) cores on average), "
                        + "\(usage.memoryBytes >> 20) MiB memory"
                }
                return values
            },
        ]
        if let unplaceable = function.unplaceable { values["unplaceable"] = unplaceable }
        return values
    }

    static func callValues(_ call: CallSummary) -> [String: Any] {
        var values: [String: Any] = [
            "id": call.id, "app": call.app, "function": call.function, "kind": call.kind, "status": call.status,
            "inputs": call.inputs, "done": call.succeeded + call.failed + call.cancelled, "failed": call.failed,
            "cancelled": call.cancelled, "retries": call.retries, "duration": seconds(call.duration()),
            "started": time(call.started),
        ]
        if let error = call.firstError { values["error"] = error }
        if let result = call.result { values["result"] = result }
        return values
    }

    static func logValues(_ line: LogLine) -> [String: Any] {
        [
            "time": time(line.time), "container": line.containerID, "text": line.text,
            "stream": line.standardError ? "stderr" : "stdout",
        ]
    }

    private static func milliseconds(_ value: Double) -> String {
        value < 10 ? String(format: "%.2f ms", value) : String(format: "%.0f ms", value)
    }

    private static func seconds(_ value: Double) -> String {
        value < 60 ? String(format: "%.2f s", value) : "\(Int(value) / 60)m \(Int(value) % 60)s"
    }

    static func time(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A value of an `application/x-www-form-urlencoded` body.
    private static func formValue(_ name: String, in body: String) -> String? {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }
        return nil
    }
}

/// The workspace of the dashboard's cookie; without a valid one, a redirect to the login page.
struct DashboardSession: RouterMiddleware {
    let authenticator: any ClientAuthenticator

    func handle(
        _ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        let cookies = (request.headers[.cookie] ?? "").split(separator: ";").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        let token = cookies.first { $0.hasPrefix(Dashboard.cookie + "=") }.map {
            String($0.dropFirst(Dashboard.cookie.count + 1))
        }
        guard let token, let workspace = try? await authenticator.workspace(forToken: token, kind: .client) else {
            return Response(status: .seeOther, headers: [.location: "/dashboard/login"])
        }
        var context = context
        context.workspace = workspace
        return try await next(request, context)
    }
}
