import AloftControlPlane
import AloftCore
import AloftWire
import Foundation
import Hummingbird
import NIOCore

// Dicts of the caller's workspace over HTTP/JSON. Keys and values are JSON values, re-encoded with sorted object
// keys as the SDK encodes them, so an entry the SDK wrote is found by the same key here and the other way round.

extension HTTPAPI {
    static func addDicts(to routes: RouterGroup<APIRequestContext>, controlPlane: ControlPlane) {
        routes.get("dicts") { _, context -> Response in
            let reply = try await controlPlane.dict(dictRequest(.list, ""), workspace: context.workspace)
            return try object(.ok, ["dicts": reply.names])
        }
        routes.get("dicts/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            let reply = try await controlPlane.dict(dictRequest(.len, name), workspace: context.workspace)
            return try object(.ok, ["name": name, "count": reply.count])
        }
        // ?after=<the previous page's "next">&limit=N
        routes.get("dicts/:name/items") { request, context -> Response in
            var dict = dictRequest(.scan, try context.parameters.require("name"))
            if let after = request.uri.queryParameters["after"], !after.isEmpty {
                guard let key = Data(base64Encoded: String(after)) else {
                    throw AloftError(.invalidArgument, "after must be the \"next\" of the previous page")
                }
                dict.after = key
            }
            dict.limit = request.uri.queryParameters["limit"].flatMap { UInt32(String($0)) } ?? 0
            let reply = try await controlPlane.dict(dict, workspace: context.workspace)
            let items = try reply.entries.map { entry -> [String: Any] in
                [
                    "key": try jsonValue(entry.key, what: "a dict key"),
                    "value": try jsonValue(entry.value, what: "a dict value"),
                ]
            }
            var answer: [String: Any] = ["items": items, "more": reply.more]
            if reply.more, let last = reply.entries.last { answer["next"] = last.key.base64EncodedString() }
            return try object(.ok, answer)
        }
        // {"key": …}
        routes.post("dicts/:name/get") { request, context -> Response in
            var request = request
            var dict = dictRequest(.get, try context.parameters.require("name"))
            dict.key = try jsonField("key", of: try await collect(&request, upTo: 4 << 20, what: "a dict request"))
            let reply = try await controlPlane.dict(dict, workspace: context.workspace)
            return try object(
                .ok,
                [
                    "found": reply.found,
                    "value": reply.found ? try jsonValue(reply.value, what: "a dict value") : NSNull(),
                ])
        }
        // {"key": …, "value": …, "skip_if_exists": false, "create_if_missing": false}
        routes.post("dicts/:name/put") { request, context -> Response in
            var request = request
            let body = try await collect(&request, upTo: 8 << 20, what: "a dict request")
            var dict = dictRequest(.put, try context.parameters.require("name"))
            dict.key = try jsonField("key", of: body)
            dict.value = try jsonField("value", of: body)
            let flags = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            dict.skipIfExists = flags?["skip_if_exists"] as? Bool ?? false
            dict.createIfMissing = flags?["create_if_missing"] as? Bool ?? false
            let reply = try await controlPlane.dict(dict, workspace: context.workspace)
            return try object(.ok, ["written": reply.found])
        }
        routes.post("dicts/:name/pop") { request, context -> Response in
            var request = request
            var dict = dictRequest(.pop, try context.parameters.require("name"))
            dict.key = try jsonField("key", of: try await collect(&request, upTo: 4 << 20, what: "a dict request"))
            let reply = try await controlPlane.dict(dict, workspace: context.workspace)
            return try object(
                .ok,
                [
                    "found": reply.found,
                    "value": reply.found ? try jsonValue(reply.value, what: "a dict value") : NSNull(),
                ])
        }
        routes.post("dicts/:name/clear") { _, context -> Response in
            let name = try context.parameters.require("name")
            let reply = try await controlPlane.dict(dictRequest(.clear, name), workspace: context.workspace)
            return try object(.ok, ["name": name, "removed": reply.count])
        }
        routes.delete("dicts/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            _ = try await controlPlane.dict(dictRequest(.delete, name), workspace: context.workspace)
            return try object(.ok, ["name": name, "deleted": true])
        }
    }

    private static func dictRequest(_ op: Aloft_V1_DictOp, _ name: String) -> Aloft_V1_DictRequest {
        var request = Aloft_V1_DictRequest()
        request.op = op
        request.name = name
        return request
    }

    /// Field `name` of a JSON object body, encoded as the SDK encodes keys and values.
    private static func jsonField(_ name: String, of body: ByteBuffer) throws -> Data {
        guard let fields = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            let value = fields[name]
        else {
            throw AloftError(.invalidArgument, "the body must be a JSON object with a \"\(name)\"")
        }
        return try canonicalJSON(value)
    }
}
