package import Foundation

// How a raw web handler's request and response travel between `aloft server` and the handler's container. The
// handler is a generator of `Data` items: its input is the request (`WebFraming.request`), its first item the
// response's head as JSON, every later item a chunk of the response's body, sent as it is yielded.

/// A request's head, as the server hands it to a raw web handler.
package struct WebRequestHead: Codable, Sendable, Equatable {
    package var method: String
    package var scheme: String?
    package var authority: String?
    /// The request's path as received, with its query.
    package var path: String
    /// The part of the path below the endpoint's own (`/` for the endpoint itself), with the query.
    package var subpath: String
    /// Header fields in order, as name and value.
    package var headers: [[String]]

    package init(
        method: String, scheme: String?, authority: String?, path: String, subpath: String, headers: [[String]]
    ) {
        self.method = method
        self.scheme = scheme
        self.authority = authority
        self.path = path
        self.subpath = subpath
        self.headers = headers
    }
}

/// A response's head, as a raw web handler sends it first.
package struct WebResponseHead: Codable, Sendable, Equatable {
    package var status: Int
    package var reason: String?
    package var headers: [[String]]

    package init(status: Int, reason: String?, headers: [[String]]) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }
}

package enum WebFraming {
    /// A request as one payload: the head's JSON, a newline (which compact JSON never contains), the body.
    package static func request(head: WebRequestHead, body: Data) throws -> Data {
        var data = try JSONEncoder().encode(head)
        data.append(0x0A)
        data.append(body)
        return data
    }

    package static func parseRequest(_ data: Data) throws -> (head: WebRequestHead, body: Data) {
        guard let newline = data.firstIndex(of: 0x0A) else {
            throw AloftError(.invalidArgument, "a web handler's request has no head")
        }
        let head = try JSONDecoder().decode(WebRequestHead.self, from: data[data.startIndex..<newline])
        return (head, Data(data[data.index(after: newline)...]))
    }
}
