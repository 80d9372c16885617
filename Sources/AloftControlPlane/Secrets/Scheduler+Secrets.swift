import AloftCore
import AloftWire
import Foundation
import SwiftProtobuf

// Secrets and environment variables of a function's containers: what a container's environment gets from its
// options, and how the inline values of a registration are sealed before the store keeps them.

extension Scheduler {
    /// What a container of `pool` adds to its environment from the function's options: `environment`, then each
    /// secret in order. Throws `notFound` for a named secret the workspace does not have and `invalidArgument` for
    /// a required key it lacks.
    func secretEnvironment(for pool: FunctionPool) throws(AloftError) -> [String: String] {
        var environment = pool.options.environment
        for secret in pool.options.secrets {
            switch secret.source {
            case .values(let values):
                environment.merge(values) { _, new in new }
            case .named(let name, let required):
                environment.merge(try namedSecret(name, requiredKeys: required, workspace: pool.workspace)) {
                    _, new in new
                }
            }
        }
        return environment
    }

    /// Checks a registration's secrets before anything runs: the call that registers fails, not its containers.
    func checkSecrets(of register: Aloft_V1_FunctionRegister, workspace: String) throws(AloftError) {
        for key in register.options.environment.keys { try EnvironmentName.validate(key, what: "environment key") }
        for secret in register.options.secrets { try Secret(wire: secret).validate() }
        for secret in register.options.secrets where !secret.name.isEmpty {
            _ = try namedSecret(secret.name, requiredKeys: secret.requiredKeys, workspace: workspace)
        }
    }

    /// The values of named secret `name` of `workspace`.
    func namedSecret(
        _ name: String, requiredKeys: [String], workspace: String
    ) throws(AloftError) -> [String: String] {
        guard let values = secrets.values(of: name, workspace: workspace) else {
            throw AloftError(
                .notFound,
                configuration.store == nil
                    ? "secret \(name) not found: named secrets live on a server (aloft server; set ALOFT_CONTROL_PLANE to it and create it with `aloft secret create \(name) KEY=VALUE…`)"
                    : "secret \(name) not found in this workspace: create it with `aloft secret create \(name) KEY=VALUE…`"
            )
        }
        let missing = requiredKeys.filter { values[$0] == nil }
        guard missing.isEmpty else {
            throw AloftError(
                .invalidArgument,
                "secret \(name) lacks the required key\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", "))"
            )
        }
        return values
    }

    /// `register` as the store keeps it: each inline secret's values sealed (`sealed_values`), never in the clear.
    /// Without a sealer (a store in memory only), as it is.
    func sealedForStore(_ register: Aloft_V1_FunctionRegister) throws -> Aloft_V1_FunctionRegister {
        guard let sealer = configuration.secretSealer, register.options.secrets.contains(where: { !$0.values.isEmpty })
        else { return register }
        var sealed = register
        for index in sealed.options.secrets.indices where !sealed.options.secrets[index].values.isEmpty {
            var values = Aloft_V1_SecretRef()
            values.values = sealed.options.secrets[index].values
            sealed.options.secrets[index].sealedValues = try sealer.seal(try values.serializedBytes())
            sealed.options.secrets[index].values = [:]
        }
        return sealed
    }

    /// A stored registration with its inline secrets' values opened again.
    func openedFromStore(_ register: Aloft_V1_FunctionRegister) throws -> Aloft_V1_FunctionRegister {
        guard register.options.secrets.contains(where: { !$0.sealedValues.isEmpty }) else { return register }
        guard let sealer = configuration.secretSealer else {
            throw AloftError(.internalFailure, "a stored function has sealed secrets but this server has no key")
        }
        var opened = register
        for index in opened.options.secrets.indices where !opened.options.secrets[index].sealedValues.isEmpty {
            let values = try Aloft_V1_SecretRef(
                serializedBytes: try sealer.open(opened.options.secrets[index].sealedValues))
            opened.options.secrets[index].values = values.values
            opened.options.secrets[index].sealedValues = Data()
        }
        return opened
    }
}
