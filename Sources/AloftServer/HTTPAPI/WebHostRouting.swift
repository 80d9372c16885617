import AloftControlPlane
import Hummingbird
import HummingbirdCore

/// The API's router, behind Modal's host form of endpoint URLs when a domain is configured: a request whose `Host`
/// is `<workspace>--<app>-<label>.<domain>` is routed as `/<workspace>/<app>/<label><path>`. App and label may both
/// contain `-`: the first split that names a web endpoint wins. Names are matched in lower case (host names are
/// case-insensitive). Any other host goes through unchanged. (Before the router, not a middleware of it: a
/// router's middleware runs only for paths it matched.)
struct WebHostRouter: HTTPResponderBuilder {
    let router: Router<APIRequestContext>
    let domain: WebDomain?
    let controlPlane: ControlPlane

    func buildResponder() -> Responder {
        Responder(inner: router.buildResponder(), domain: domain, controlPlane: controlPlane)
    }

    struct Responder: HTTPResponder {
        let inner: RouterResponder<APIRequestContext>
        let domain: WebDomain?
        let controlPlane: ControlPlane

        func respond(to request: Request, context: APIRequestContext) async throws -> Response {
            try await inner.respond(to: await routed(request), context: context)
        }

        private func routed(_ request: Request) async -> Request {
            guard let domain, let host = request.head.authority,
                let (workspace, appAndLabel) = domain.target(ofHost: host)
            else { return request }
            var split = appAndLabel.startIndex
            while let dash = appAndLabel[split...].firstIndex(of: "-") {
                let app = String(appAndLabel[..<dash])
                let label = String(appAndLabel[appAndLabel.index(after: dash)...])
                split = appAndLabel.index(after: dash)
                guard !app.isEmpty, !label.isEmpty,
                    (try? await controlPlane.webEndpoint(workspace: workspace, app: app, function: label)) != nil
                else { continue }
                var head = request.head
                let path = request.head.path ?? "/"
                let prefix = "/" + [workspace, app, label].joined(separator: "/")
                head.path = path == "/" ? prefix : path.hasPrefix("/?") ? prefix + path.dropFirst() : prefix + path
                return Request(head: head, body: request.body)
            }
            return request
        }
    }
}
