public import AloftCore
import Foundation
import Synchronization

/// Where a server serves web endpoints, so that a function's registration can answer its URL
/// (`Function.webURL()`). The server fills it in once its HTTP port is known; empty (the embedded default), no
/// function has a URL.
public final class WebAddresses: Sendable {
    private let state = Mutex<(baseURL: String, domain: WebDomain?)?>(nil)

    public init() {}

    /// `baseURL` (`http://host:port`) serves `/<workspace>/<app>/<label>`; with a `domain`, URLs are its host form.
    public func set(baseURL: String, domain: WebDomain?) {
        state.withLock { $0 = (baseURL, domain) }
    }

    /// `http://host:port` of the server's HTTP port, once it is known.
    public var baseURL: String? { state.withLock { $0?.baseURL } }

    /// The URL of endpoint `label` of `app` in `workspace`, if this server serves web endpoints.
    public func url(workspace: String, app: String, label: String) -> String? {
        guard let (baseURL, domain) = state.withLock({ $0 }) else { return nil }
        if let domain { return domain.url(workspace: workspace, app: app, label: label) }
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        return base + "/" + [workspace, app, label].map(Self.pathComponent).joined(separator: "/")
    }

    static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? text
    }
}

/// A base domain for Modal's host form of endpoint URLs, `<workspace>--<app>-<label>.<domain>`, given as
/// `[scheme://]domain[:port]` (`http` when no scheme is given).
public struct WebDomain: Sendable, Hashable {
    public var scheme: String
    /// Lower case, without a port.
    public var host: String
    public var port: Int?

    public init(parsing text: String) throws(AloftError) {
        var rest = Substring(text)
        scheme = "http"
        if let range = rest.range(of: "://") {
            scheme = String(rest[..<range.lowerBound]).lowercased()
            rest = rest[range.upperBound...]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
                throw AloftError(.invalidConfiguration, "the web domain '\(text)' has an invalid port")
            }
            self.port = port
            rest = rest[..<colon]
        }
        host = rest.lowercased()
        guard ["http", "https"].contains(scheme), !host.isEmpty, !host.contains("/"), !host.hasPrefix(".") else {
            throw AloftError(
                .invalidConfiguration, "the web domain '\(text)' is not [http[s]://]domain[:port] (aloft.example.com)")
        }
    }

    public func url(workspace: String, app: String, label: String) -> String {
        "\(scheme)://\(workspace)--\(app)-\(label).\(host)".lowercased() + (port.map { ":\($0)" } ?? "")
    }

    /// For a request's `Host` header under this domain: its workspace and the `<app>-<label>` part (split by the
    /// caller, which knows the apps: both may contain `-`).
    public func target(ofHost header: String) -> (workspace: String, appAndLabel: String)? {
        var name = Substring(header.lowercased())
        if let colon = name.lastIndex(of: ":"), !name.contains("]") { name = name[..<colon] }
        guard name.hasSuffix("." + host) else { return nil }
        let label = name.dropLast(host.count + 1)
        guard let separator = label.range(of: "--"), !label.contains(".") else { return nil }
        let workspace = label[..<separator.lowerBound]
        let appAndLabel = label[separator.upperBound...]
        guard !workspace.isEmpty, !appAndLabel.isEmpty else { return nil }
        return (String(workspace), String(appAndLabel))
    }
}
