import AloftCore
import AloftWire
import Foundation
import NIOCore

// Dicts: one request per operation, on the loop. A write is answered once the store has it (an acknowledged put
// survives kill -9); reads are answered at once. Entries idle for `dictEntryIdleExpiry` are removed by the reaper.

extension Scheduler {
    static let maxDictKeyBytes = 64 * 1024
    static let defaultDictPage = 1_000

    /// Answers a dict request with `respond`, now or once the store has the change. `owner`: the connection an
    /// ephemeral dict made now lives with (`nil`: none may be made, as over HTTP).
    func dictRequest(
        _ request: Aloft_V1_DictRequest, workspace: String, owner: ObjectIdentifier?,
        respond: @escaping @Sendable (Result<Aloft_V1_DictReply, AloftError>) -> Void
    ) {
        loop.assertInEventLoop()
        do {
            var reply = Aloft_V1_DictReply()
            switch request.op {
            case .list:
                reply.names = dicts.names(workspace: workspace)
                return respond(.success(reply))
            case .createEphemeral:
                guard let owner else {
                    throw AloftError(.invalidArgument, "an ephemeral dict lives with a wire connection: use the SDK")
                }
                let name = "dict-ephemeral-" + randomHex()
                dicts.add(Dicts.Contents(createdAt: Date(), owner: owner), workspace: workspace, name: name)
                reply.name = name
                return respond(.success(reply))
            default:
                break
            }
            let contents = try dict(request, workspace: workspace)
            let now = Date()
            var written: [StoredDictEntry] = []
            var removed: [Data] = []
            switch request.op {
            case .get, .contains:
                if let entry = contents.entries[request.key] {
                    reply.found = true
                    if request.op == .get { reply.value = entry.value }
                    contents.entries[request.key]?.touched = now
                }
            case .put:
                try checkSizes(key: request.key, value: request.value)
                if request.skipIfExists && contents.entries[request.key] != nil {
                    reply.found = false
                } else {
                    contents.entries[request.key] = Dicts.Entry(value: request.value, touched: now)
                    written.append(StoredDictEntry(key: request.key, value: request.value, touchedAt: now))
                    reply.found = true
                }
            case .update:
                for entry in request.entries { try checkSizes(key: entry.key, value: entry.value) }
                for entry in request.entries {
                    contents.entries[entry.key] = Dicts.Entry(value: entry.value, touched: now)
                    written.append(StoredDictEntry(key: entry.key, value: entry.value, touchedAt: now))
                }
                reply.count = UInt64(request.entries.count)
            case .pop:
                if let entry = contents.entries.removeValue(forKey: request.key) {
                    reply.found = true
                    reply.value = entry.value
                    removed.append(request.key)
                }
            case .len:
                reply.count = UInt64(contents.entries.count)
            case .scan:
                let limit = request.limit == 0 ? Self.defaultDictPage : Int(min(request.limit, 10_000))
                let keys = contents.entries.keys.filter { request.after.isEmpty || Data.precedes(request.after, $0) }
                    .sorted(by: Data.precedes)
                reply.entries = keys.prefix(limit).map { key in
                    var entry = Aloft_V1_DictEntry()
                    entry.key = key
                    entry.value = contents.entries[key]?.value ?? Data()
                    return entry
                }
                reply.more = keys.count > limit
            case .clear:
                reply.count = UInt64(contents.entries.count)
                contents.entries.removeAll()
                if contents.owner == nil { record(.clearDict(workspace: workspace, name: request.name)) }
            case .delete:
                dicts.remove(workspace: workspace, name: request.name)
                if contents.owner == nil { record(.deleteDict(workspace: workspace, name: request.name)) }
            default:
                throw AloftError(.protocolError, "unknown dict operation \(request.op)")
            }
            if contents.owner == nil {
                if !written.isEmpty {
                    record(.putDictEntries(workspace: workspace, dict: request.name, written))
                }
                if !removed.isEmpty {
                    record(.deleteDictEntries(workspace: workspace, dict: request.name, keys: removed))
                }
            }
            let writes = !written.isEmpty || !removed.isEmpty || request.op == .clear || request.op == .delete
            self.reply(reply, whenStored: writes && contents.owner == nil, respond: respond)
        } catch let error as AloftError {
            respond(.failure(error))
        } catch {
            respond(.failure(AloftError(.internalFailure, "\(error)")))
        }
    }

    /// The dict a request names; made (and stored) when it asks to create a missing one.
    private func dict(_ request: Aloft_V1_DictRequest, workspace: String) throws -> Dicts.Contents {
        if let contents = dicts[workspace, request.name] { return contents }
        guard request.createIfMissing, request.op != .delete else {
            throw AloftError(
                .notFound,
                "dict \(request.name) not found in this workspace: create it with Dict.fromName(\"\(request.name)\", createIfMissing: true)"
            )
        }
        try ObjectName.validate(request.name, what: "a dict name")
        let contents = Dicts.Contents(createdAt: Date(), owner: nil)
        dicts.add(contents, workspace: workspace, name: request.name)
        record(.putDict(StoredDict(workspace: workspace, name: request.name, createdAt: contents.createdAt)))
        return contents
    }

    private func checkSizes(key: Data, value: Data) throws {
        guard key.count <= Self.maxDictKeyBytes else {
            throw AloftError(
                .payloadTooLarge, "a dict key of \(key.count) bytes is over the limit of \(Self.maxDictKeyBytes)")
        }
        guard value.count <= configuration.maxPayloadBytes else {
            throw AloftError(
                .payloadTooLarge,
                "a dict value of \(value.count) bytes is over the payload limit of \(configuration.maxPayloadBytes)")
        }
    }

    /// The stored dicts, at start.
    func restoreDicts(_ stored: [StoredDict]) {
        for dict in stored {
            let contents = Dicts.Contents(createdAt: dict.createdAt, owner: nil)
            for entry in dict.entries {
                contents.entries[entry.key] = Dicts.Entry(value: entry.value, touched: entry.touchedAt)
            }
            dicts.add(contents, workspace: dict.workspace, name: dict.name)
        }
    }

    /// Removes the entries nobody read or wrote for `dictEntryIdleExpiry` (on the reaper, once a minute).
    func expireDictEntries(now: Date) {
        let horizon = now.addingTimeInterval(-Double(configuration.dictEntryIdleExpiry.wireMilliseconds) / 1000)
        for (key, contents) in dicts.all {
            let idle = contents.entries.filter { $0.value.touched < horizon }.map(\.key)
            guard !idle.isEmpty else { continue }
            for entryKey in idle { contents.entries[entryKey] = nil }
            if contents.owner == nil {
                record(.deleteDictEntries(workspace: key.workspace, dict: key.name, keys: idle))
            }
        }
    }
}
