import AloftCore
import Foundation

// Dict keys and values, and queue items, as the HTTP API reads and answers them: JSON values, re-encoded as the
// SDK encodes them (object keys sorted, slashes unescaped), so that both find the same entries.

extension HTTPAPI {
    /// `value` (a JSON value of a request body) as the SDK would have encoded it.
    static func canonicalJSON(_ value: Any) throws -> Data {
        try JSONSerialization.data(
            withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
    }

    /// Stored bytes as a JSON value of an answer; `what` names them in the error when they are not JSON.
    static func jsonValue(_ data: Data, what: String) throws -> Any {
        guard let value = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw AloftError(.invalidArgument, "\(what) is not JSON")
        }
        return value
    }
}
