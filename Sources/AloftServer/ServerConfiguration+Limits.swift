import AloftControlPlane
import AloftCore
import Foundation

// The bounds `aloft server` takes as comma-separated `key=value` lists: --input-limits, --connection-limits and
// --http-limits.

extension ServerConfiguration {
    mutating func readLimits(_ settings: Settings) throws(AloftError) {
        typealias Variable = AloftEnvironment
        if let limits = try settings.parse(
            Variable.inputLimits, flag: "--input-limits",
            expected: "comma-separated map=N, map-mib=N, connection-mib=N, workspace=N or workspace-mib=N (N > 0)",
            { InputLimits(parsing: $0, over: controlPlane.inputLimits) })
        {
            controlPlane.inputLimits = limits
        }
        if let limits = try settings.parse(
            Variable.connectionLimits, flag: "--connection-limits",
            expected:
                "comma-separated total=N, unwelcomed-per-peer=N, hello-timeout=SECONDS or idle-timeout=SECONDS|off (N > 0)",
            { ConnectionLimits(parsing: $0, over: controlPlane.connectionLimits) })
        {
            controlPlane.connectionLimits = limits
        }
        if let limits = try settings.parse(
            Variable.httpLimits, flag: "--http-limits",
            expected: "comma-separated total=N, per-peer=N or idle-timeout=SECONDS|off (N > 0)",
            { HTTPConnectionLimits(parsing: $0, over: httpLimits) })
        {
            httpLimits = limits
        }
    }
}

/// The `key=value` pairs of a comma-separated list; nil if one is not a pair.
private func pairs(_ text: String) -> [(key: String, value: String)]? {
    var pairs: [(key: String, value: String)] = []
    for part in text.split(separator: ",") {
        let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard pair.count == 2 else { return nil }
        pairs.append((pair[0], pair[1]))
    }
    return pairs
}

/// A count more than 0 and at most `UInt32.max`.
private func count(_ text: String) -> Int? {
    Int(text).flatMap { $0 > 0 && $0 <= Int(UInt32.max) ? $0 : nil }
}

/// A number of seconds more than 0 and at most a day.
private func seconds(_ text: String) -> Duration? {
    Double(text).flatMap { $0 > 0 && $0 <= 86_400 ? .milliseconds(Int64($0 * 1000)) : nil }
}

/// Seconds, or `off` for none (`.some(nil)`); nil if it does not parse.
private func optionalSeconds(_ text: String) -> Duration?? {
    text == "off" ? .some(nil) : seconds(text).map { .some($0) }
}

extension InputLimits {
    /// `base` with the bounds `text` names (`map=10000,map-mib=256,connection-mib=512,workspace=1000000,
    /// workspace-mib=2048`, any of them); nil if it does not parse.
    init?(parsing text: String, over base: InputLimits) {
        self = base
        for (key, text) in pairs(text) ?? [("", "")] {
            guard let value = count(text) else { return nil }
            switch key {
            case "map": inputsPerCall = value
            case "map-mib": bytesPerCall = value << 20
            case "connection-mib": bytesPerConnection = value << 20
            case "workspace": inputsPerWorkspace = value
            case "workspace-mib": bytesPerWorkspace = value << 20
            default: return nil
            }
        }
    }
}

extension ConnectionLimits {
    /// `base` with the bounds `text` names (`total=4096,unwelcomed-per-peer=64,hello-timeout=10,idle-timeout=300`,
    /// any of them; `idle-timeout=off`); nil if it does not parse.
    init?(parsing text: String, over base: ConnectionLimits) {
        self = base
        for (key, value) in pairs(text) ?? [("", "")] {
            switch key {
            case "total":
                guard let value = count(value) else { return nil }
                total = value
            case "unwelcomed-per-peer":
                guard let value = count(value) else { return nil }
                unwelcomedPerPeer = value
            case "hello-timeout":
                guard let value = seconds(value) else { return nil }
                helloTimeout = value
            case "idle-timeout":
                guard let value = optionalSeconds(value) else { return nil }
                idleTimeout = value
            default: return nil
            }
        }
    }
}

extension HTTPConnectionLimits {
    /// `base` with the bounds `text` names (`total=2048,per-peer=256,idle-timeout=30`, any of them;
    /// `idle-timeout=off`); nil if it does not parse.
    init?(parsing text: String, over base: HTTPConnectionLimits) {
        self = base
        for (key, value) in pairs(text) ?? [("", "")] {
            switch key {
            case "total":
                guard let value = count(value) else { return nil }
                total = value
            case "per-peer":
                guard let value = count(value) else { return nil }
                perPeer = value
            case "idle-timeout":
                guard let value = optionalSeconds(value) else { return nil }
                idleTimeout = value
            default: return nil
            }
        }
    }
}
