import AloftControlPlane
import AloftCore
import AloftWire
import Foundation
import Hummingbird
import NIOCore

// Queues of the caller's workspace over HTTP/JSON: list, length, peek (without taking), put, clear, delete. Items
// are JSON values, encoded as the SDK encodes them. Nothing here waits: taking items is for the SDK, whose waiting
// gets end with their connection (an HTTP client that went away mid-wait could take items nobody receives).

extension HTTPAPI {
    static func addQueues(to routes: RouterGroup<APIRequestContext>, controlPlane: ControlPlane) {
        routes.get("queues") { _, context -> Response in
            let reply = try await controlPlane.queue(queueRequest(.list, ""), workspace: context.workspace)
            return try object(.ok, ["queues": reply.names])
        }
        // ?partition=P or ?total=true
        routes.get("queues/:name") { request, context -> Response in
            let name = try context.parameters.require("name")
            var queue = queueRequest(.len, name)
            queue.partition = request.uri.queryParameters["partition"].map(String.init) ?? ""
            queue.total = request.uri.queryParameters["total"] == "true"
            let reply = try await controlPlane.queue(queue, workspace: context.workspace)
            return try object(.ok, ["name": name, "count": reply.count])
        }
        // ?partition=P&after=N&limit=N
        routes.get("queues/:name/peek") { request, context -> Response in
            var queue = queueRequest(.peek, try context.parameters.require("name"))
            queue.partition = request.uri.queryParameters["partition"].map(String.init) ?? ""
            queue.after = request.uri.queryParameters["after"].flatMap { UInt64(String($0)) } ?? 0
            queue.maxItems = request.uri.queryParameters["limit"].flatMap { UInt32(String($0)) } ?? 0
            let reply = try await controlPlane.queue(queue, workspace: context.workspace)
            let items = try reply.items.map { try jsonValue($0, what: "a queue item") }
            return try object(.ok, ["items": items, "next": reply.next])
        }
        // {"items": [json…], "partition": "p", "create_if_missing": false, "idempotency_key": "k"}: a put whose key
        // was used within the hour puts nothing again (safe to retry after a lost reply)
        routes.post("queues/:name/put") { request, context -> Response in
            var request = request
            let body = try await collect(&request, upTo: 16 << 20, what: "a queue put")
            guard let fields = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                let items = fields["items"] as? [Any]
            else {
                throw AloftError(.invalidArgument, #"the body must be {"items": [JSON values…], "partition": "…"}"#)
            }
            var queue = queueRequest(.put, try context.parameters.require("name"))
            queue.partition = fields["partition"] as? String ?? ""
            queue.createIfMissing = fields["create_if_missing"] as? Bool ?? false
            queue.requestID = fields["idempotency_key"] as? String ?? ""
            queue.items = try items.map {
                try JSONSerialization.data(
                    withJSONObject: $0, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
            }
            _ = try await controlPlane.queue(queue, workspace: context.workspace)
            return try object(.ok, ["put": items.count])
        }
        // {"partition": "p"} or {"all": true}
        routes.post("queues/:name/clear") { request, context -> Response in
            var request = request
            let body = try await collect(&request, upTo: 64 << 10, what: "a queue clear")
            let fields = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            let name = try context.parameters.require("name")
            var queue = queueRequest(.clear, name)
            queue.partition = fields?["partition"] as? String ?? ""
            queue.all = fields?["all"] as? Bool ?? false
            let reply = try await controlPlane.queue(queue, workspace: context.workspace)
            return try object(.ok, ["name": name, "removed": reply.count])
        }
        routes.delete("queues/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            _ = try await controlPlane.queue(queueRequest(.delete, name), workspace: context.workspace)
            return try object(.ok, ["name": name, "deleted": true])
        }
    }

    private static func queueRequest(_ op: Aloft_V1_QueueOp, _ name: String) -> Aloft_V1_QueueRequest {
        var request = Aloft_V1_QueueRequest()
        request.op = op
        request.name = name
        return request
    }
}
