import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
import SwiftProtobuf

// Named secrets: created, replaced and deleted on the loop (the store's write acknowledged before the caller
// hears back), and loaded, opened, when the control plane starts. New containers get the new values; running
// ones keep what they started with.

extension Scheduler {
    /// Creates (or, with `force`, replaces) named secret `name` of `workspace`.
    func putSecret(
        _ name: String, values: [String: String], force: Bool, workspace: String, promise: EventLoopPromise<Void>
    ) {
        loop.assertInEventLoop()
        let existing = secrets.entry(name, workspace: workspace)
        guard existing == nil || force else {
            return promise.fail(
                AloftError(
                    .alreadyExists, "secret \(name) exists already: replace it with --force (new containers get it)"))
        }
        let now = Date()
        let entry = NamedSecrets.Entry(values: values, createdAt: existing?.createdAt ?? now, updatedAt: now)
        if configuration.store != nil {
            do {
                record(.putSecret(try sealed(entry, name: name, workspace: workspace)))
            } catch {
                return promise.fail(error)
            }
        }
        secrets.set(entry, name: name, workspace: workspace)
        logger.notice(
            "secret stored",
            metadata: ["aloft.secret": "\(name)", "aloft.keys": "\(values.keys.sorted().joined(separator: ","))"])
        whenStored { promise.completeWith($0) }
    }

    func deleteSecret(_ name: String, workspace: String, promise: EventLoopPromise<Void>) {
        loop.assertInEventLoop()
        guard secrets.entry(name, workspace: workspace) != nil else {
            return promise.fail(AloftError(.notFound, "secret \(name) not found in this workspace"))
        }
        secrets.remove(name: name, workspace: workspace)
        record(.deleteSecret(workspace: workspace, name: name))
        logger.notice("secret deleted", metadata: ["aloft.secret": "\(name)"])
        whenStored { promise.completeWith($0) }
    }

    /// The stored secrets, opened; one that does not open (another server's key) is skipped with an error logged.
    func restoreSecrets(_ stored: [StoredSecret]) {
        for secret in stored {
            do {
                guard let sealer = configuration.secretSealer else {
                    throw AloftError(.internalFailure, "this control plane has no key to open secrets with")
                }
                let values = try Aloft_V1_SecretRef(serializedBytes: try sealer.open(secret.sealedValues)).values
                secrets.set(
                    NamedSecrets.Entry(values: values, createdAt: secret.createdAt, updatedAt: secret.updatedAt),
                    name: secret.name, workspace: secret.workspace)
            } catch {
                logger.error(
                    "a stored secret could not be opened; skipped",
                    metadata: ["aloft.secret": "\(secret.name)", "aloft.error": "\(error)"])
            }
        }
    }

    private func sealed(_ entry: NamedSecrets.Entry, name: String, workspace: String) throws -> StoredSecret {
        guard let sealer = configuration.secretSealer else {
            throw AloftError(.invalidConfiguration, "this control plane has a store but no key to seal secrets with")
        }
        var values = Aloft_V1_SecretRef()
        values.values = entry.values
        return StoredSecret(
            workspace: workspace, name: name, keys: entry.values.keys.sorted(),
            sealedValues: try sealer.seal(try values.serializedBytes()), createdAt: entry.createdAt,
            updatedAt: entry.updatedAt)
    }
}
