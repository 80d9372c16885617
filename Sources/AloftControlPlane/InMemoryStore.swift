public import Foundation
import Synchronization

/// A store that keeps everything in memory: for tests, and to check the control plane's use of the protocol
/// without a database. Nothing outlives the process.
public final class InMemoryStore: ControlPlaneStore {
    private struct Contents {
        var functions: [UInt64: StoredFunction] = [:]
        var calls: [String: StoredCall] = [:]
        var inputs: [String: [UInt64: Data]] = [:]
        var results: [String: [UInt64: (data: Data, expiresAt: Date)]] = [:]
        var tokens: [String: StoredToken] = [:]
        var appVersions: [AppVersionKey: StoredAppVersion] = [:]
        var secrets: [NameKey: StoredSecret] = [:]
        var dicts: [NameKey: StoredDict] = [:]
        var dictEntries: [NameKey: [Data: StoredDictEntry]] = [:]
        var queues: [NameKey: StoredQueue] = [:]
        var queueItems: [NameKey: [StoredQueueItem]] = [:]
        var queueReceipts: [NameKey: [StoredQueueReceipt]] = [:]
        /// By workspace, app and function.
        var schedules: [[String]: StoredSchedule] = [:]
    }

    private struct NameKey: Hashable {
        var workspace: String, name: String
    }

    private struct AppVersionKey: Hashable {
        var workspace: String, appName: String, version: Int
    }

    private let contents = Mutex(Contents())

    public init() {}

    public func open() async throws {}

    public func load() async throws -> StoredState {
        contents.withLock { contents in
            StoredState(
                functions: contents.functions.values.sorted { $0.id < $1.id },
                unfinishedCalls: contents.calls.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
                    .compactMap { call in
                        let inputs = contents.inputs[call.id] ?? [:]
                        guard !inputs.isEmpty || !call.inputsClosed else { return nil }
                        return (
                            call, inputs.sorted { $0.key < $1.key }.map { StoredInput(index: $0.key, data: $0.value) }
                        )
                    },
                secrets: contents.secrets.values.sorted { ($0.workspace, $0.name) < ($1.workspace, $1.name) },
                dicts: contents.dicts.sorted { ($0.key.workspace, $0.key.name) < ($1.key.workspace, $1.key.name) }
                    .map { key, dict in
                        var dict = dict
                        dict.entries = (contents.dictEntries[key] ?? [:]).values.sorted {
                            $0.key.lexicographicallyPrecedes($1.key)
                        }
                        return dict
                    },
                queues: contents.queues.sorted { ($0.key.workspace, $0.key.name) < ($1.key.workspace, $1.key.name) }
                    .map { key, queue in
                        var queue = queue
                        queue.items = (contents.queueItems[key] ?? []).sorted {
                            ($0.partition, $0.position) < ($1.partition, $1.position)
                        }
                        queue.receipts = (contents.queueReceipts[key] ?? []).sorted {
                            ($0.createdAt, $0.id) < ($1.createdAt, $1.id)
                        }
                        return queue
                    },
                schedules: contents.schedules.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.value)
            )
        }
    }

    public func apply(_ changes: [StoreChange]) async throws {
        contents.withLock { contents in
            for change in changes {
                switch change {
                case .putFunction(let function):
                    contents.functions[function.id] = function
                case .putCall(let call):
                    if contents.calls[call.id] == nil { contents.calls[call.id] = call }
                case .putInputs(let callID, let inputs):
                    for input in inputs where contents.inputs[callID]?[input.index] == nil {
                        contents.inputs[callID, default: [:]][input.index] = input.data
                    }
                case .closeInputs(let callID):
                    contents.calls[callID]?.inputsClosed = true
                case .finishInput(let callID, let index, let result, let expiresAt):
                    contents.inputs[callID]?[index] = nil
                    if let result, contents.results[callID]?[index] == nil {
                        contents.results[callID, default: [:]][index] = (result, expiresAt)
                    }
                case .deleteCall(let id):
                    contents.calls[id] = nil
                    contents.inputs[id] = nil
                    contents.results[id] = nil
                case .expireResults(let date):
                    for (callID, results) in contents.results {
                        let kept = results.filter { $0.value.expiresAt >= date }
                        contents.results[callID] = kept.isEmpty ? nil : kept
                    }
                    // As the databases do: a closed call with nothing left to run or read is gone.
                    for (callID, call) in contents.calls
                    where call.inputsClosed && (contents.inputs[callID]?.isEmpty ?? true)
                        && contents.results[callID] == nil
                    {
                        contents.calls[callID] = nil
                        contents.inputs[callID] = nil
                    }
                case .putToken(let token):
                    contents.tokens[token.id] = token
                case .revokeToken(let id):
                    contents.tokens[id]?.revoked = true
                case .putAppVersion(let version):
                    let key = AppVersionKey(
                        workspace: version.workspace, appName: version.appName, version: version.version)
                    if contents.appVersions[key] == nil { contents.appVersions[key] = version }
                case .setLiveVersion(let workspace, let appName, let live):
                    for (key, version) in contents.appVersions
                    where key.workspace == workspace && key.appName == appName {
                        contents.appVersions[key]?.live = version.version == live
                    }
                case .deleteFunctions(let workspace, let appName):
                    contents.functions = contents.functions.filter {
                        $0.value.workspace != workspace || $0.value.appName != appName
                    }
                case .putSecret(let secret):
                    contents.secrets[NameKey(workspace: secret.workspace, name: secret.name)] = secret
                case .deleteSecret(let workspace, let name):
                    contents.secrets[NameKey(workspace: workspace, name: name)] = nil
                case .putDict(let dict):
                    let key = NameKey(workspace: dict.workspace, name: dict.name)
                    if contents.dicts[key] == nil {
                        contents.dicts[key] = StoredDict(
                            workspace: dict.workspace, name: dict.name, createdAt: dict.createdAt)
                    }
                case .deleteDict(let workspace, let name):
                    contents.dicts[NameKey(workspace: workspace, name: name)] = nil
                    contents.dictEntries[NameKey(workspace: workspace, name: name)] = nil
                case .putDictEntries(let workspace, let dict, let entries):
                    for entry in entries {
                        contents.dictEntries[NameKey(workspace: workspace, name: dict), default: [:]][entry.key] = entry
                    }
                case .deleteDictEntries(let workspace, let dict, let keys):
                    for key in keys { contents.dictEntries[NameKey(workspace: workspace, name: dict)]?[key] = nil }
                case .clearDict(let workspace, let name):
                    contents.dictEntries[NameKey(workspace: workspace, name: name)] = nil
                case .putQueue(let queue):
                    let key = NameKey(workspace: queue.workspace, name: queue.name)
                    if contents.queues[key] == nil {
                        contents.queues[key] = StoredQueue(
                            workspace: queue.workspace, name: queue.name, createdAt: queue.createdAt)
                    }
                case .deleteQueue(let workspace, let name):
                    contents.queues[NameKey(workspace: workspace, name: name)] = nil
                    contents.queueItems[NameKey(workspace: workspace, name: name)] = nil
                    contents.queueReceipts[NameKey(workspace: workspace, name: name)] = nil
                case .putQueueItems(let workspace, let queue, let items):
                    contents.queueItems[NameKey(workspace: workspace, name: queue), default: []] += items
                case .deleteQueueItems(let workspace, let queue, let partition, let through):
                    contents.queueItems[NameKey(workspace: workspace, name: queue)]?.removeAll {
                        $0.partition == partition && $0.position <= through
                    }
                case .clearQueue(let workspace, let name, let partition):
                    contents.queueItems[NameKey(workspace: workspace, name: name)]?.removeAll {
                        partition == nil || $0.partition == partition
                    }
                case .putQueueReceipt(let workspace, let queue, let receipt):
                    let key = NameKey(workspace: workspace, name: queue)
                    contents.queueReceipts[key, default: []].removeAll { $0.id == receipt.id }
                    contents.queueReceipts[key, default: []].append(receipt)
                case .deleteQueueReceipts(let workspace, let queue, let ids):
                    let forgotten = Set(ids)
                    contents.queueReceipts[NameKey(workspace: workspace, name: queue)]?.removeAll {
                        forgotten.contains($0.id)
                    }
                case .putSchedule(let schedule):
                    contents.schedules[[schedule.workspace, schedule.appName, schedule.function]] = schedule
                case .deleteSchedules(let workspace, let appName):
                    contents.schedules = contents.schedules.filter {
                        $0.value.workspace != workspace || $0.value.appName != appName
                    }
                }
            }
        }
    }

    public func result(callID: String, index: UInt64) async throws -> Data? {
        contents.withLock { contents in
            contents.results[callID]?[index].flatMap { $0.expiresAt >= Date() ? $0.data : nil }
        }
    }

    public func call(id: String) async throws -> StoredCall? {
        contents.withLock { $0.calls[id] }
    }

    public func token(id: String) async throws -> StoredToken? {
        contents.withLock { $0.tokens[id] }
    }

    public func tokens() async throws -> [StoredToken] {
        contents.withLock { $0.tokens.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    }

    public func appVersions(workspace: String) async throws -> [StoredAppVersion] {
        contents.withLock { contents in
            contents.appVersions.values.filter { $0.workspace == workspace }.sorted {
                ($0.appName, $0.version) < ($1.appName, $1.version)
            }
        }
    }

    public func close() async {}
}
