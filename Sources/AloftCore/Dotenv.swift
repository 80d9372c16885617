import Foundation

/// The dotenv format of `Secret.fromDotenv` and `aloft secret create --from-dotenv`.
package enum Dotenv {
    /// The variables of `text`; throws `invalidArgument` naming `file` and the line that is not `KEY=VALUE`.
    package static func parse(_ text: String, file: String) throws(AloftError) -> [String: String] {
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingWhitespace() }
            guard let equals = line.firstIndex(of: "=") else {
                throw AloftError(.invalidArgument, "\(file):\(number + 1): expected KEY=VALUE")
            }
            let key = String(line[..<equals]).trimmingWhitespace()
            try EnvironmentName.validate(key, what: "\(file):\(number + 1): key")
            values[key] = unquote(String(line[line.index(after: equals)...]).trimmingWhitespace())
        }
        return values
    }

    private static func unquote(_ value: String) -> String {
        if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") { return String(value.dropFirst().dropLast()) }
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
            var out = ""
            var escaped = false
            for character in value.dropFirst().dropLast() {
                if escaped {
                    out.append(character == "n" ? "\n" : character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else {
                    out.append(character)
                }
            }
            return out
        }
        // Unquoted: a ` #` starts a comment.
        if let comment = value.range(of: " #") { return String(value[..<comment.lowerBound]).trimmingWhitespace() }
        return value
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> String { trimmingCharacters(in: .whitespaces) }
}
