public import Foundation
import Synchronization

/// Where a control plane keeps what must outlive its process: registered functions, accepted spawned calls with
/// their unfinished inputs, and results until they expire.
///
/// The control plane batches its changes per event-loop turn and applies each batch with one `apply` (one
/// transaction), in order, never two at once; it acknowledges a spawn only after the batch holding it is applied.
/// Implementations: ``InMemoryStore`` (tests), `SQLiteStore` (module `AloftSQLite`, the server's default) and
/// `PostgresStore` (several hosts). They all pass one conformance suite.
///
/// Records carry wire messages as opaque bytes (a serialized `FunctionRegister` or `Result`), so a store never
/// depends on the protocol's types and a schema change in the protocol needs no migration here.
public protocol ControlPlaneStore: Sendable {
    /// Creates the schema if needed; called once before anything else.
    func open() async throws
    /// What a restarted control plane resumes from.
    func load() async throws -> StoredState
    /// Applies the changes in order, all or none.
    func apply(_ changes: [StoreChange]) async throws
    /// The result of input `index` of a call, if it has finished and not expired.
    func result(callID: String, index: UInt64) async throws -> Data?
    /// A call that was accepted and has not expired.
    func call(id: String) async throws -> StoredCall?
    /// The token with this id, revoked or not.
    func token(id: String) async throws -> StoredToken?
    /// Every token, oldest first.
    func tokens() async throws -> [StoredToken]
    /// Every deployed version of every app of `workspace`, by app name, then version.
    func appVersions(workspace: String) async throws -> [StoredAppVersion]
    /// Releases connections and files.
    func close() async
}

/// A registered function: the id callers use, and the registration that defines its pool.
public struct StoredFunction: Sendable, Hashable {
    public var id: UInt64
    /// `workspace/app/pool#function`: one row per function of each pool.
    public var key: String
    /// The workspace that registered it (empty without tokens).
    public var workspace: String
    public var appName: String
    /// A serialized `aloft.v1.FunctionRegister`.
    public var registration: Data

    public init(id: UInt64, key: String, workspace: String = "", appName: String, registration: Data) {
        self.id = id
        self.key = key
        self.workspace = workspace
        self.appName = appName
        self.registration = registration
    }
}

/// An accepted call whose inputs must run even if the control plane restarts.
public struct StoredCall: Sendable, Hashable {
    public var id: String
    /// The workspace of the caller that made it (empty without tokens); only that workspace may read it.
    public var workspace: String
    public var functionID: UInt64
    /// The wire's `CallKind` number.
    public var kind: Int
    public var inputsClosed: Bool
    public var createdAt: Date

    public init(id: String, workspace: String = "", functionID: UInt64, kind: Int, inputsClosed: Bool, createdAt: Date)
    {
        self.id = id
        self.workspace = workspace
        self.functionID = functionID
        self.kind = kind
        self.inputsClosed = inputsClosed
        self.createdAt = createdAt
    }
}

public struct StoredInput: Sendable, Hashable {
    public var index: UInt64
    public var data: Data

    public init(index: UInt64, data: Data) {
        self.index = index
        self.data = data
    }
}

/// What a restarted control plane resumes from: every function, and every stored call that still has inputs to
/// run (with those inputs). Finished calls are not loaded; their results are read with `result(callID:index:)`.
public struct StoredState: Sendable {
    public var functions: [StoredFunction]
    public var unfinishedCalls: [(call: StoredCall, inputs: [StoredInput])]
    /// Every named secret of every workspace, by workspace, then name.
    public var secrets: [StoredSecret]

    public init(
        functions: [StoredFunction] = [], unfinishedCalls: [(call: StoredCall, inputs: [StoredInput])] = [],
        secrets: [StoredSecret] = []
    ) {
        self.functions = functions
        self.unfinishedCalls = unfinishedCalls
        self.secrets = secrets
    }
}

/// A credential: a client's (calls functions and reads calls of its workspace) or a worker host's. Only a hash of
/// its secret is kept.
public struct StoredToken: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        case client, worker
    }

    /// The public part of the token, for listing and revoking.
    public var id: String
    public var workspace: String
    public var kind: Kind
    /// SHA-256 of the secret part, hex.
    public var secretHash: String
    public var createdAt: Date
    public var revoked: Bool
    /// When it stops working; `nil`: never.
    public var expiresAt: Date?

    public init(
        id: String, workspace: String, kind: Kind, secretHash: String, createdAt: Date, revoked: Bool = false,
        expiresAt: Date? = nil
    ) {
        self.id = id
        self.workspace = workspace
        self.kind = kind
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.revoked = revoked
        self.expiresAt = expiresAt
    }

    public func hasExpired(at now: Date = Date()) -> Bool {
        expiresAt.map { $0 <= now } ?? false
    }
}

/// One deployment of an app: what `aloft deploy` registered, kept so that it can be listed and rolled back to.
public struct StoredAppVersion: Sendable, Hashable {
    public var workspace: String
    public var appName: String
    /// 1, 2, 3 ... per app.
    public var version: Int
    /// SHA-256 (hex) of the executable in the artifact store.
    public var artifact: String
    /// A serialized `aloft.v1.AppManifest`: the app's functions and their options.
    public var manifest: Data
    public var createdAt: Date
    /// The version that serves calls; no version of a stopped app is live.
    public var live: Bool

    public init(
        workspace: String, appName: String, version: Int, artifact: String, manifest: Data, createdAt: Date,
        live: Bool = false
    ) {
        self.workspace = workspace
        self.appName = appName
        self.version = version
        self.artifact = artifact
        self.manifest = manifest
        self.createdAt = createdAt
        self.live = live
    }
}

public enum StoreChange: Sendable, Hashable {
    /// Adds or replaces a function (by id).
    case putFunction(StoredFunction)
    /// Adds a call; a call already stored under its id is left as it is (ids are never reused).
    case putCall(StoredCall)
    /// Adds inputs to a call; an index already stored is left as it is.
    case putInputs(callID: String, [StoredInput])
    /// The caller has sent its last input.
    case closeInputs(callID: String)
    /// Input `index` finished: its input is dropped and, when `result` is not nil (a serialized `Result`), that is
    /// kept until `expiresAt`. The first result stored for an input is the one kept: exactly one result per input.
    case finishInput(callID: String, index: UInt64, result: Data?, expiresAt: Date)
    /// Forgets a call, its inputs and its results.
    case deleteCall(id: String)
    /// Forgets every result that expired before `date`, and calls left with nothing.
    case expireResults(before: Date)
    /// Adds a token (or replaces it, by id).
    case putToken(StoredToken)
    /// Marks a token revoked: it is refused from then on.
    case revokeToken(id: String)
    /// Adds an app version (not live); a version already stored is left as it is.
    case putAppVersion(StoredAppVersion)
    /// Makes `version` the app's live version, or none (the app is stopped).
    case setLiveVersion(workspace: String, appName: String, version: Int?)
    /// Forgets every function of an app (it was stopped; calls already accepted keep their results).
    case deleteFunctions(workspace: String, appName: String)
    /// Adds a named secret, or replaces the one of that workspace and name.
    case putSecret(StoredSecret)
    /// Forgets a named secret.
    case deleteSecret(workspace: String, name: String)
}

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
        var secrets: [SecretKey: StoredSecret] = [:]
    }

    private struct SecretKey: Hashable {
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
                secrets: contents.secrets.values.sorted { ($0.workspace, $0.name) < ($1.workspace, $1.name) }
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
                    contents.secrets[SecretKey(workspace: secret.workspace, name: secret.name)] = secret
                case .deleteSecret(let workspace, let name):
                    contents.secrets[SecretKey(workspace: workspace, name: name)] = nil
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
