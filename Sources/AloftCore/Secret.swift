import Foundation

/// Credentials a function's containers get as environment variables, set before user code runs: Modal's
/// `modal.Secret`. Give them in `FunctionOptions(secrets:)` (after `environment`, in order: a later key wins).
///
/// A named secret lives on a server (`aloft secret create NAME KEY=VALUE…`), per workspace, encrypted at rest; the
/// others carry their values from the caller's process and are sealed with the server's key before they are
/// stored. Values never appear in logs, command lines or `description`.
public struct Secret: Sendable, Hashable, CustomStringConvertible {
    package enum Source: Sendable, Hashable {
        case named(String, requiredKeys: [String])
        case values([String: String])
    }

    package let source: Source

    package init(source: Source) {
        self.source = source
    }

    /// The named secret of the caller's workspace on the server. A call of a function that uses it fails with
    /// `notFound` when there is none (or on the embedded control plane, which keeps no named secrets), and with
    /// `invalidArgument` when it lacks one of `requiredKeys`, before any container starts.
    public static func fromName(_ name: String, requiredKeys: [String] = []) -> Secret {
        Secret(source: .named(name, requiredKeys: requiredKeys))
    }

    /// These values; a `nil` value leaves its key out (as Modal's `from_dict` does with `None`).
    public static func fromDictionary(_ values: [String: String?]) -> Secret {
        Secret(source: .values(values.compactMapValues { $0 }))
    }

    /// The values of `keys` in this process's environment; throws `notFound` naming a key that is not set.
    public static func fromLocalEnvironment(_ keys: [String]) throws(AloftError) -> Secret {
        let environment = ProcessInfo.processInfo.environment
        var values: [String: String] = [:]
        for key in keys {
            guard let value = environment[key] else {
                throw AloftError(.notFound, "environment variable \(key) is not set (Secret.fromLocalEnvironment)")
            }
            values[key] = value
        }
        return Secret(source: .values(values))
    }

    /// The variables of a dotenv file (`.env` in the current directory by default): `KEY=VALUE` lines, with an
    /// optional `export `, values optionally in single or double quotes (double quotes understand `\n`, `\"` and
    /// `\\`), `#` comments and blank lines. Throws `notFound` when the file is missing, `invalidArgument` naming
    /// the line that is not `KEY=VALUE`.
    public static func fromDotenv(_ path: String = ".env") throws(AloftError) -> Secret {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw AloftError(.notFound, "could not read the dotenv file \(path): \(error.localizedDescription)")
        }
        return Secret(source: .values(try Dotenv.parse(text, file: path)))
    }

    /// The secret's name, or how many inline keys it has: never a value.
    public var description: String {
        switch source {
        case .named(let name, let required):
            required.isEmpty ? "Secret.fromName(\(name))" : "Secret.fromName(\(name), requiredKeys: \(required))"
        case .values(let values): "Secret(\(values.count) inline keys: \(values.keys.sorted().joined(separator: ", ")))"
        }
    }

    /// Checks names and values: environment variable names (letters, digits and `_`, not starting with a digit),
    /// secret names (1–64 of letters, digits, `-`, `_` and `.`), and values without NUL bytes.
    package func validate() throws(AloftError) {
        switch source {
        case .named(let name, let required):
            try Self.validateName(name)
            for key in required { try EnvironmentName.validate(key, what: "required key of secret \(name)") }
        case .values(let values):
            for (key, value) in values {
                try EnvironmentName.validate(key, what: "secret key")
                if value.utf8.contains(0) {
                    throw AloftError(.invalidArgument, "the value of secret key \(key) has a NUL byte")
                }
            }
        }
    }

    package static func validateName(_ name: String) throws(AloftError) {
        try ObjectName.validate(name, what: "a secret name")
    }
}

/// Names of secrets, dicts and queues: 1–64 letters, digits, `-`, `_` and `.`.
package enum ObjectName {
    package static func validate(_ name: String, what: String) throws(AloftError) {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
        guard (1...64).contains(name.utf8.count), allowed else {
            throw AloftError(.invalidArgument, "\(what) is 1 to 64 letters, digits, '-', '_' or '.', got \"\(name)\"")
        }
    }
}

/// Names of environment variables, as POSIX shells accept them.
package enum EnvironmentName {
    package static func validate(_ name: String, what: String) throws(AloftError) {
        let bytes = Array(name.utf8)
        let valid =
            !bytes.isEmpty && !(bytes[0] >= 0x30 && bytes[0] <= 0x39)
            && bytes.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: "_")
            }
        guard valid else {
            throw AloftError(
                .invalidArgument, "\(what) \"\(name)\" is not an environment variable name (letters, digits, _)")
        }
    }
}
