import AloftControlPlane
import AloftCore
import Foundation
import Hummingbird
import NIOCore

// Named secrets of the caller's workspace: create (or replace), list (names, keys, dates: never values), delete.
// Values are never logged and never answered.

extension HTTPAPI {
    static func addSecrets(to routes: RouterGroup<APIRequestContext>, controlPlane: ControlPlane) {
        // {"name": "stripe", "values": {"API_KEY": "…"}, "force": false}
        routes.post("secrets") { request, context -> Response in
            var request = request
            let body = try await collect(&request, upTo: 1 << 20, what: "a secret")
            guard
                let fields = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                let name = fields["name"] as? String, let values = fields["values"] as? [String: String]
            else {
                throw AloftError(
                    .invalidArgument, #"the body must be {"name": "…", "values": {"KEY": "value", …}, "force": false}"#)
            }
            let force = fields["force"] as? Bool ?? false
            try await controlPlane.createSecret(workspace: context.workspace, name: name, values: values, force: force)
            return try object(.created, ["name": name, "keys": values.keys.sorted()])
        }
        routes.get("secrets") { _, context -> Response in
            let secrets = try await controlPlane.secrets(workspace: context.workspace).map { secret -> [String: Any] in
                [
                    "name": secret.name, "keys": secret.keys, "created_at": secret.createdAt.formatted(.iso8601),
                    "updated_at": secret.updatedAt.formatted(.iso8601),
                ]
            }
            return try object(.ok, ["secrets": secrets])
        }
        routes.delete("secrets/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            try await controlPlane.deleteSecret(workspace: context.workspace, name: name)
            return try object(.ok, ["name": name, "deleted": true])
        }
    }
}
