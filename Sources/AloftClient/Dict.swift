import AloftCore
import AloftWire
import Foundation

/// A durable key-value store shared by every process of a workspace: Modal's `modal.Dict`, typed.
///
/// Keys and values are `Codable` types checked at compile time, stored as their JSON (keys with sorted object keys,
/// so equal keys have equal bytes; the HTTP API and `aloft dict` show the same JSON). On a server a dict is
/// durable: an acknowledged `put` survives `kill -9`. An entry nobody reads or writes for 7 days is removed.
///
/// Every method has an async form and a blocking one (the same name, in synchronous code); `subscript` is
/// blocking only, as Modal's `[]` is.
public struct Dict<Key: Codable & Sendable, Value: Codable & Sendable>: Sendable {
    /// The dict's name in its workspace (an ephemeral dict's is made by the control plane).
    public let name: String
    let createIfMissing: Bool
    let controlPlane: any ControlPlaneProvider

    /// The named dict of the caller's workspace on `controlPlane` (with `import Aloft`, `Dict.fromName(_:)` uses the
    /// embedded control plane, or the one `ALOFT_CONTROL_PLANE` names). Lazy: nothing is checked until first use,
    /// which fails with `notFound` for a dict that does not exist unless `createIfMissing`.
    public static func fromName(
        _ name: String, createIfMissing: Bool = false, controlPlane: any ControlPlaneProvider
    ) -> Dict {
        Dict(name: name, createIfMissing: createIfMissing, controlPlane: controlPlane)
    }

    /// A new dict that lives as long as this process's connection to `controlPlane` (Modal's `Dict.ephemeral()`):
    /// never stored, gone when the caller exits. Containers reach it by its `name` with `fromName`.
    public static func ephemeral(controlPlane: any ControlPlaneProvider) async throws -> Dict {
        var request = Aloft_V1_DictRequest()
        request.op = .createEphemeral
        let reply = try await send(request, to: controlPlane)
        return Dict(name: reply.name, createIfMissing: false, controlPlane: controlPlane)
    }

    /// The value of `key`, or `nil`.
    public func get(_ key: Key) async throws -> Value? {
        var request = try self.request(.get)
        request.key = try DictCodec.encode(key)
        let reply = try await send(request)
        return reply.found ? try DictCodec.decode(Value.self, from: reply.value, what: "value of dict \(name)") : nil
    }

    /// Stores `value` under `key`; with `skipIfExists`, only if the key is not there. Returns whether it wrote.
    @discardableResult
    public func put(_ key: Key, _ value: Value, skipIfExists: Bool = false) async throws -> Bool {
        var request = try self.request(.put)
        request.key = try DictCodec.encode(key)
        request.value = try DictCodec.encode(value)
        request.skipIfExists = skipIfExists
        return try await send(request).found
    }

    /// Stores every pair, in one request (one store transaction).
    public func update(_ entries: some Sequence<(Key, Value)>) async throws {
        var request = try self.request(.update)
        request.entries = try entries.map { key, value in
            var entry = Aloft_V1_DictEntry()
            entry.key = try DictCodec.encode(key)
            entry.value = try DictCodec.encode(value)
            return entry
        }
        _ = try await send(request)
    }

    /// Removes `key` and returns its value; throws `notFound` when it is not there.
    public func pop(_ key: Key) async throws -> Value {
        guard let value = try await pop(key, default: nil) else {
            throw AloftError(.notFound, "dict \(name) has no such key")
        }
        return value
    }

    /// Removes `key` and returns its value, or `fallback` when it is not there.
    public func pop(_ key: Key, default fallback: Value?) async throws -> Value? {
        var request = try self.request(.pop)
        request.key = try DictCodec.encode(key)
        let reply = try await send(request)
        return reply.found
            ? try DictCodec.decode(Value.self, from: reply.value, what: "value of dict \(name)") : fallback
    }

    public func contains(_ key: Key) async throws -> Bool {
        var request = try self.request(.contains)
        request.key = try DictCodec.encode(key)
        return try await send(request).found
    }

    /// The number of entries.
    public func count() async throws -> Int {
        Int(try await send(try request(.len)).count)
    }

    /// Removes every entry.
    public func clear() async throws {
        _ = try await send(try request(.clear))
    }

    /// The entries, read in pages of `pageSize` in the byte order of their keys' JSON: memory stays bounded by a
    /// page, and entries written while it runs may or may not be seen.
    public func items(pageSize: Int = 1_000) -> AsyncThrowingStream<(key: Key, value: Value), any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: (key: Key, value: Value).self)
        let task = Task {
            do {
                var after = Data()
                while true {
                    var request = try self.request(.scan)
                    request.after = after
                    request.limit = UInt32(clamping: max(1, pageSize))
                    let reply = try await send(request)
                    for entry in reply.entries {
                        let key = try DictCodec.decode(Key.self, from: entry.key, what: "key of dict \(name)")
                        let value = try DictCodec.decode(Value.self, from: entry.value, what: "value of dict \(name)")
                        continuation.yield((key, value))
                    }
                    guard reply.more, let last = reply.entries.last else { break }
                    after = last.key
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The keys, paged as `items` is.
    public func keys() -> AsyncThrowingMapSequence<AsyncThrowingStream<(key: Key, value: Value), any Error>, Key> {
        items().map(\.key)
    }

    /// The values, paged as `items` is.
    public func values() -> AsyncThrowingMapSequence<AsyncThrowingStream<(key: Key, value: Value), any Error>, Value> {
        items().map(\.value)
    }

    /// Deletes the dict and its entries.
    public func delete() async throws {
        _ = try await send(try request(.delete))
    }

    private func request(_ op: Aloft_V1_DictOp) throws -> Aloft_V1_DictRequest {
        var request = Aloft_V1_DictRequest()
        request.name = name
        request.createIfMissing = createIfMissing
        request.op = op
        return request
    }

    private func send(_ request: Aloft_V1_DictRequest) async throws -> Aloft_V1_DictReply {
        try await Self.send(request, to: controlPlane)
    }

    private static func send(
        _ request: Aloft_V1_DictRequest, to controlPlane: any ControlPlaneProvider
    ) async throws -> Aloft_V1_DictReply {
        try await AloftRuntime.shared.request(.dictRequest(request), to: controlPlane, what: "a dict request") {
            if case .dictReply(let reply) = $0 { reply } else { nil }
        }
    }
}

extension AloftRuntime {
    /// Sends one request of a workspace object (a dict, a queue) and returns its reply, as `reply` picks it out.
    /// With `retrying` (a request that is safe to repeat: a read, or one with a request id), a connection that
    /// closes or cannot be reopened is retried within the provider's reconnect window if this process reached that
    /// control plane before (a server restart); one never reached fails at once.
    func request<Reply>(
        _ body: Aloft_V1_Envelope.OneOf_Body, to controlPlane: any ControlPlaneProvider, what: String,
        retrying: Bool = false, reply: (Aloft_V1_Envelope.OneOf_Body) -> Reply?
    ) async throws -> Reply {
        var deadline: ContinuousClock.Instant?
        while true {
            do {
                let connection = try await connection(for: controlPlane)
                guard let answer = reply(try await connection.request(body)) else {
                    throw AloftError(.protocolError, "unexpected reply to \(what)")
                }
                return answer
            } catch let error as AloftError where error.code == .connectionFailed && retrying {
                guard !Task.isCancelled, await hasConnected(to: controlPlane) else { throw error }
                let until = deadline ?? .now + reconnectWindow(for: controlPlane)
                deadline = until
                guard ContinuousClock.now < until else { throw error }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }
}

/// JSON for dict keys and values and queue items: object keys sorted, so that equal keys encode to equal bytes.
enum DictCodec {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        do {
            return try encoder.encode(value)
        } catch {
            throw AloftError(.invalidArgument, "could not encode \(T.self) for a dict: \(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw AloftError(.invalidArgument, "the \(what) does not decode as \(T.self): \(error)")
        }
    }
}
