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
    /// Every named dict of every workspace with its entries, by workspace, then name (entries in key order).
    public var dicts: [StoredDict]
    /// Every named queue of every workspace with its items, by workspace, then name (items by partition, position).
    public var queues: [StoredQueue]
    /// Every deployed function's schedule, by workspace, app, then function.
    public var schedules: [StoredSchedule]

    public init(
        functions: [StoredFunction] = [], unfinishedCalls: [(call: StoredCall, inputs: [StoredInput])] = [],
        secrets: [StoredSecret] = [], dicts: [StoredDict] = [], queues: [StoredQueue] = [],
        schedules: [StoredSchedule] = []
    ) {
        self.schedules = schedules
        self.queues = queues
        self.functions = functions
        self.unfinishedCalls = unfinishedCalls
        self.secrets = secrets
        self.dicts = dicts
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
    /// Adds a dict (its `entries` are ignored); one already stored is left as it is.
    case putDict(StoredDict)
    /// Forgets a dict and its entries.
    case deleteDict(workspace: String, name: String)
    /// Adds or replaces entries of a dict.
    case putDictEntries(workspace: String, dict: String, [StoredDictEntry])
    /// Forgets entries of a dict (keys it does not have are ignored).
    case deleteDictEntries(workspace: String, dict: String, keys: [Data])
    /// Forgets every entry of a dict, keeping the dict.
    case clearDict(workspace: String, name: String)
    /// Adds a queue (its `items` are ignored); one already stored is left as it is.
    case putQueue(StoredQueue)
    /// Forgets a queue and its items.
    case deleteQueue(workspace: String, name: String)
    /// Adds items to a queue.
    case putQueueItems(workspace: String, queue: String, [StoredQueueItem])
    /// Forgets the items of a partition up to and including position `through` (they were taken, oldest first).
    case deleteQueueItems(workspace: String, queue: String, partition: String, through: UInt64)
    /// Forgets the items of one partition, or of every partition (`nil`), keeping the queue.
    case clearQueue(workspace: String, name: String, partition: String?)
    /// Keeps what a put or get with a request id did (see `StoredQueueReceipt`).
    case putQueueReceipt(workspace: String, queue: String, StoredQueueReceipt)
    /// Forgets receipts of a queue (an hour old, or past the queue's limit).
    case deleteQueueReceipts(workspace: String, queue: String, ids: [String])
    /// Adds a function's schedule, or replaces the one of that workspace, app and function.
    case putSchedule(StoredSchedule)
    /// Forgets every schedule of an app (it was stopped, or a new version was deployed).
    case deleteSchedules(workspace: String, appName: String)
}
