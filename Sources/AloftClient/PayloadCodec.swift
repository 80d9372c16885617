import AloftCore
import Foundation
import Synchronization

/// The argument of a function that takes none.
public struct NoArguments: Codable, Sendable, Hashable {
    public init() {}
}

/// Arguments and results travel as JSON; a function without arguments sends no bytes at all.
enum PayloadCodec {
    // Shared: making an encoder or decoder costs more than encoding a small value with it.
    private static let encoder = JSONEncoder()
    private static let decoder = JSONDecoder()

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        if T.self == NoArguments.self { return Data() }
        return try encoder.encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        if T.self == NoArguments.self, data.isEmpty { return NoArguments() as! T }
        return try decoder.decode(type, from: data)
    }

    static func checkSize(_ data: Data, limit: Int, what: String) throws {
        guard data.count > limit else { return }
        throw AloftError(.payloadTooLarge, "\(what) of \(data.count) bytes exceeds the inline payload limit of \(limit) bytes (\(limit / 1024 / 1024) MiB)")
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
