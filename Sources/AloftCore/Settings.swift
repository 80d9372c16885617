/// Where a service's settings come from, in the one order every service reads them: a command-line flag, else its
/// environment variable, else the default.
///
/// Each setting is named by its environment variable (`AloftEnvironment`); the flag that overrides it is given
/// where it is read, so that an error names both.
package struct Settings: Sendable {
    /// Flag values by the variable they override (`nil`: not given).
    package var flags: [String: String]
    package var environment: [String: String]

    package init(flags: [String: String?] = [:], environment: [String: String]) {
        self.flags = flags.compactMapValues { $0 }
        self.environment = environment
    }

    /// The value of setting `variable`: its flag's, else the variable's; an empty value counts as unset.
    package func value(_ variable: String) -> String? {
        guard let value = flags[variable] ?? environment[variable], !value.isEmpty else { return nil }
        return value
    }

    /// The setting parsed by `parse`; nil when unset. A value `parse` rejects throws `invalidConfiguration`:
    /// "`--port 99999` is not a port number (0-65535)", naming the flag, or the variable when it came from there.
    package func parse<T>(
        _ variable: String, flag: String, expected: String, _ parse: (String) -> T?
    )
        throws(AloftError) -> T?
    {
        guard let text = value(variable) else { return nil }
        guard let parsed = parse(text) else {
            let source = flags[variable] != nil ? "\(flag) \(text)" : "\(variable)=\(text) (or \(flag))"
            throw AloftError(.invalidConfiguration, "\(source) is not \(expected)")
        }
        return parsed
    }

    /// A port number setting.
    package func port(_ variable: String, flag: String) throws(AloftError) -> Int? {
        try parse(variable, flag: flag, expected: "a port number (0-65535)") {
            Int($0).flatMap { (0...65535).contains($0) ? $0 : nil }
        }
    }

    /// An on/off setting (`on`, `true`, `1`; `off`, `false`, `0`).
    package func toggle(_ variable: String, flag: String) throws(AloftError) -> Bool? {
        try parse(variable, flag: flag, expected: "on or off") {
            ["1": true, "true": true, "on": true, "0": false, "false": false, "off": false][$0]
        }
    }
}
