package import AloftCore

/// Where a peer of the wire protocol is: `host:port` over TCP, or `unix:/path` for a Unix-domain socket on this
/// host. Parsed once, where an address enters (an environment variable, a flag, a control plane's listener).
package enum WireEndpoint: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// Parses `host:port` (the host may be an IPv6 literal: the port follows the last colon) or `unix:/path`.
    package init(_ address: String) throws(AloftError) {
        if address.hasPrefix("unix:") {
            self = .unix(path: String(address.dropFirst(5)))
            return
        }
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port), colon != address.startIndex
        else {
            throw AloftError(.invalidConfiguration, "address '\(address)' is neither host:port nor unix:/path")
        }
        self = .tcp(host: String(address[..<colon]), port: port)
    }

    /// The address as it is written: `host:port` or `unix:/path`.
    package var description: String {
        switch self {
        case .tcp(let host, let port): "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }

    /// The host of a TCP endpoint.
    package var host: String? {
        if case .tcp(let host, _) = self { host } else { nil }
    }
}
