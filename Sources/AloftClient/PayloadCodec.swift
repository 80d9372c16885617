import AloftCore
import Foundation
import Synchronization

/// The argument of a function that takes none.
public struct NoArguments: Codable, Sendable, Hashable {
    public init() {}
}

/// Arguments and results travel as JSON; a function without arguments sends no bytes at all, and `Data` travels as
/// its own bytes followed by a 0 byte (no JSON text ends with one), because base64 in JSON made a 16 MiB argument
/// 4x slower than Ray (W7 in bench/README.md). The marker is last so that the receiver's `Data` is the payload's
/// prefix (no copy, indices from 0). A `Data` parameter still accepts JSON (a base64 string), which is what a caller
/// in another language sends.
enum PayloadCodec {
    static let rawBytesMarker: UInt8 = 0

    // Shared: making an encoder or decoder costs more than encoding a small value with it.
    // Slashes unescaped: `Data` travels as base64, full of `/`; escaping them made the encoder 2x and the decoder
    // (off its fast path) 5x slower on a 2 MiB argument (W7 in bench/README.md).
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return encoder
    }()
    private static let decoder = JSONDecoder()

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        if T.self == NoArguments.self { return Data() }
        if T.self == Data.self {  // a type comparison, not a dynamic cast: this runs for every argument and result
            let bytes = value as! Data
            var encoded = Data(capacity: bytes.count + 1)
            encoded.append(bytes)
            encoded.append(rawBytesMarker)
            return encoded
        }
        return try encoder.encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        if T.self == NoArguments.self, data.isEmpty { return NoArguments() as! T }
        if data.last == rawBytesMarker {
            guard T.self == Data.self else {
                throw DecodingError.typeMismatch(
                    T.self, .init(codingPath: [], debugDescription: "got raw bytes (Data), expected \(T.self)"))
            }
            return data.prefix(data.count - 1) as! T
        }
        return try decoder.decode(type, from: data)
    }

    static func checkSize(_ data: Data, limit: Int, what: String) throws {
        guard data.count > limit else { return }
        throw AloftError(
            .payloadTooLarge,
            "\(what) of \(data.count) bytes exceeds the inline payload limit of \(limit) bytes (\(limit / 1024 / 1024) MiB)"
        )
    }
}

/// Codable error types an app registered: a container sends them encoded, and the caller rethrows them as themselves.
/// They are keyed by the type's name without its module, because the caller and the container are often
/// different executables (so different modules) that declare the same type.
enum ErrorRegistry {
    private static let decoders = Mutex<[String: @Sendable (Data) throws -> any Error]>([:])

    static func register<E: Error & Codable>(_ type: E.Type) {
        decoders.withLock { $0[registeredName(type)] = { try JSONDecoder().decode(E.self, from: $0) } }
    }

    static func registeredName(_ type: Any.Type) -> String {
        String(describing: type)
    }

    /// The registered name and encoding of `error`, if its type is registered.
    static func encode(_ error: any Error) -> (typeName: String, data: Data)? {
        guard let codable = error as? any (Error & Codable) else { return nil }
        let name = registeredName(type(of: error))
        guard decoders.withLock({ $0[name] != nil }), let data = try? JSONEncoder().encode(codable) else { return nil }
        return (name, data)
    }

    static func decode(typeName: String, data: Data) -> (any Error)? {
        guard let decoder = decoders.withLock({ $0[typeName] }) else { return nil }
        return try? decoder(data)
    }
}

extension PayloadCodec {
    /// What was wrong with a payload that did not decode, said plainly (where in the JSON and what was expected)
    /// instead of Swift's `DecodingError` dump.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func place(_ path: [any CodingKey]) -> String {
            path.isEmpty
                ? "at the top level"
                : "at "
                    + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                    .joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "expected \(type) \(place(context.codingPath))"
        case .valueNotFound(let type, let context):
            return "expected \(type) \(place(context.codingPath)), found null or nothing"
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' \(place(context.codingPath))"
        case .dataCorrupted(let context):
            return "not valid JSON \(place(context.codingPath))"
        @unknown default:
            return "not decodable"
        }
    }
}
