import AloftControlPlane
import AloftCore
import AloftPostgres
import AloftSQLite
import Foundation
import Synchronization
import Testing

/// The PostgreSQL server the tests use: `ALOFT_TEST_POSTGRES_URL` (`.ci/run` starts one with
/// scripts/start-postgres.sh and sets it). Without it the PostgreSQL cases do not run.
let testPostgresURL = ProcessInfo.processInfo.environment["ALOFT_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

/// One suite that every `ControlPlaneStore` passes: in memory, SQLite (a real database file) and PostgreSQL (a real
/// server, each test in a schema of its own).
@Suite("Store conformance")
struct StoreConformanceTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory, sqlite, postgres
        var testDescription: String { rawValue }
        /// The kinds this run can test.
        static var available: [Kind] { allCases.filter { $0 != .postgres || testPostgresURL != nil } }
    }

    /// A fresh, opened store of `kind`; `reopen` gives a second store on the same data (a restart).
    struct Subject {
        let store: any ControlPlaneStore
        let reopen: () async throws -> any ControlPlaneStore
    }

    /// Runs `body` on a fresh store of `kind`, then removes its data.
    func withStore(_ kind: Kind, _ body: (Subject) async throws -> Void) async throws {
        switch kind {
        case .memory:
            let store = InMemoryStore()
            try await store.open()
            try await body(Subject(store: store, reopen: { store }))
        case .sqlite:
            let directory = temporaryPath("aloft-store")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/aloft.sqlite"
            let store = SQLiteStore(path: path)
            try await store.open()
            try await body(
                Subject(
                    store: store,
                    reopen: {
                        await store.close()
                        let reopened = SQLiteStore(path: path)
                        try await reopened.open()
                        return reopened
                    }))
        case .postgres:
            let url = try #require(testPostgresURL)
            let schema = "aloft_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            let store = try PostgresStore(url: url, schema: schema)
            try await store.open()
            let reopened = Mutex<PostgresStore?>(nil)
            do {
                try await body(
                    Subject(
                        store: store,
                        reopen: {
                            await store.close()
                            let next = try PostgresStore(url: url, schema: schema)
                            try await next.open()
                            reopened.withLock { $0 = next }
                            return next
                        }))
            } catch {
                try? await (reopened.withLock { $0 } ?? store).dropSchema()
                throw error
            }
            let last = reopened.withLock { $0 } ?? store
            try await last.dropSchema()
            await last.close()
        }
    }

    func function(_ id: UInt64, _ name: String) -> StoredFunction {
        StoredFunction(
            id: id, key: "ws/app/\(name)#\(name)", workspace: "ws", appName: "app",
            registration: Data("registration of \(name)".utf8))
    }

    func call(_ id: String, function: UInt64 = 1, closed: Bool = true, at seconds: TimeInterval = 0) -> StoredCall {
        StoredCall(
            id: id, workspace: "ws-\(id)", functionID: function, kind: 2, inputsClosed: closed,
            createdAt: Date(timeIntervalSince1970: 1_800_000_000 + seconds))
    }

    func input(_ index: UInt64, _ text: String) -> StoredInput { StoredInput(index: index, data: Data(text.utf8)) }

    @Test("functions are stored, replaced by id, and loaded in id order", arguments: Kind.available)
    func functions(kind: Kind) async throws {
        try await withStore(kind) { subject in
            try await subject.store.apply([.putFunction(function(7, "b")), .putFunction(function(3, "a"))])
            var replaced = function(7, "b")
            replaced.registration = Data("new registration".utf8)
            try await subject.store.apply([.putFunction(replaced)])
            let loaded = try await subject.reopen().load()
            #expect(loaded.functions == [function(3, "a"), replaced])
        }
    }

    @Test(
        "unfinished calls come back with the inputs that did not finish; finished ones do not",
        arguments: Kind.available)
    func unfinishedCalls(kind: Kind) async throws {
        try await withStore(kind) { subject in
            try await subject.store.apply([
                .putCall(call("fc-a", at: 1)),
                .putInputs(callID: "fc-a", [input(0, "a0"), input(1, "a1"), input(2, "a2")]),
                .putCall(call("fc-b", at: 2)), .putInputs(callID: "fc-b", [input(0, "b0")]),
                .putCall(call("fc-open", closed: false, at: 3)),
            ])
            // An index stored twice keeps its first data; finished inputs leave the set.
            try await subject.store.apply([
                .putInputs(callID: "fc-a", [input(1, "changed")]),
                .finishInput(callID: "fc-a", index: 0, result: Data("r0".utf8), expiresAt: .distantFuture),
                .finishInput(callID: "fc-b", index: 0, result: Data("rb".utf8), expiresAt: .distantFuture),
            ])
            let store = try await subject.reopen()
            let loaded = try await store.load()
            #expect(loaded.unfinishedCalls.map(\.call.id) == ["fc-a", "fc-open"])
            #expect(loaded.unfinishedCalls.first?.inputs == [input(1, "a1"), input(2, "a2")])
            #expect(loaded.unfinishedCalls.last?.inputs == [])
            #expect(loaded.unfinishedCalls.first?.call == call("fc-a", at: 1))

            try await store.apply([.closeInputs(callID: "fc-open")])
            #expect(try await store.load().unfinishedCalls.map(\.call.id) == ["fc-a"])
        }
    }

    @Test("results are read by call and index until they expire", arguments: Kind.available)
    func results(kind: Kind) async throws {
        try await withStore(kind) { subject in
            let past = Date().addingTimeInterval(-60)
            let future = Date().addingTimeInterval(3600)
            try await subject.store.apply([
                .putCall(call("fc-r")), .putInputs(callID: "fc-r", [input(0, "x"), input(1, "y"), input(2, "z")]),
                .finishInput(callID: "fc-r", index: 0, result: Data("kept".utf8), expiresAt: future),
                .finishInput(callID: "fc-r", index: 1, result: Data("expired".utf8), expiresAt: past),
                .finishInput(callID: "fc-r", index: 2, result: Data(), expiresAt: future),
                .putCall(call("fc-gone")), .putInputs(callID: "fc-gone", [input(0, "g")]),
                .finishInput(callID: "fc-gone", index: 0, result: Data("old".utf8), expiresAt: past),
            ])
            let store = try await subject.reopen()
            #expect(try await store.result(callID: "fc-r", index: 0) == Data("kept".utf8))
            #expect(try await store.result(callID: "fc-r", index: 1) == nil)
            #expect(try await store.result(callID: "fc-r", index: 2) == Data())
            #expect(try await store.result(callID: "fc-r", index: 9) == nil)
            #expect(try await store.result(callID: "fc-unknown", index: 0) == nil)

            try await store.apply([.expireResults(before: Date())])
            #expect(try await store.call(id: "fc-r") == call("fc-r"))
            #expect(try await store.call(id: "fc-gone") == nil)  // nothing left of it
            #expect(try await store.result(callID: "fc-r", index: 0) == Data("kept".utf8))
        }
    }

    @Test("a deleted call leaves nothing behind", arguments: Kind.available)
    func deleteCall(kind: Kind) async throws {
        try await withStore(kind) { subject in
            try await subject.store.apply([
                .putCall(call("fc-d")), .putInputs(callID: "fc-d", [input(0, "a"), input(1, "b")]),
                .finishInput(callID: "fc-d", index: 0, result: Data("r".utf8), expiresAt: .distantFuture),
                .finishInput(callID: "fc-d", index: 1, result: nil, expiresAt: .distantFuture),
            ])
            #expect(try await subject.store.result(callID: "fc-d", index: 1) == nil)  // finished without a result
            try await subject.store.apply([.deleteCall(id: "fc-d")])
            let store = try await subject.reopen()
            #expect(try await store.call(id: "fc-d") == nil)
            #expect(try await store.result(callID: "fc-d", index: 0) == nil)
            #expect(try await store.load().unfinishedCalls.isEmpty)
        }
    }

    @Test(
        "tokens are stored, listed oldest first, looked up by id and revoked; an expiry is kept",
        arguments: Kind.available)
    func tokens(kind: Kind) async throws {
        try await withStore(kind) { subject in
            let first = StoredToken(
                id: "t1", workspace: "alpha", kind: .client, secretHash: "h1",
                createdAt: Date(timeIntervalSince1970: 1_800_000_000),
                expiresAt: Date(timeIntervalSince1970: 1_800_086_400))
            let second = StoredToken(
                id: "t2", workspace: "beta", kind: .worker, secretHash: "h2",
                createdAt: Date(timeIntervalSince1970: 1_800_000_100))
            try await subject.store.apply([.putToken(second), .putToken(first)])
            try await subject.store.apply([.revokeToken(id: "t2"), .revokeToken(id: "no-such-token")])
            let store = try await subject.reopen()
            var revoked = second
            revoked.revoked = true
            #expect(try await store.tokens() == [first, revoked])
            #expect(try await store.token(id: "t1") == first)
            #expect(try await store.token(id: "t2")?.revoked == true)
            #expect(try await store.token(id: "t3") == nil)
            #expect(try await store.token(id: "t2")?.expiresAt == nil)
            #expect(first.hasExpired(at: Date(timeIntervalSince1970: 1_800_086_400)))
            #expect(!first.hasExpired(at: Date(timeIntervalSince1970: 1_800_086_399)))
        }
    }

    @Test(
        "app versions are kept per workspace, one live at a time; stopping an app forgets its functions",
        arguments: Kind.available)
    func appVersions(kind: Kind) async throws {
        try await withStore(kind) { subject in
            func version(_ number: Int, app: String = "app", workspace: String = "ws") -> StoredAppVersion {
                StoredAppVersion(
                    workspace: workspace, appName: app, version: number,
                    artifact: String(repeating: "\(number)", count: 64),
                    manifest: Data([0, UInt8(number), 0xff]),
                    createdAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(number)))
            }
            try await subject.store.apply([
                .putFunction(function(1, "f")), .putFunction(function(2, "g")),
                .putAppVersion(version(2)), .putAppVersion(version(1)), .putAppVersion(version(1, app: "other")),
                .putAppVersion(version(1, workspace: "elsewhere")),
                .setLiveVersion(workspace: "ws", appName: "app", version: 1),
                .setLiveVersion(workspace: "ws", appName: "app", version: 2),
                .setLiveVersion(workspace: "ws", appName: "other", version: 1),
            ])
            var changed = version(2)
            changed.artifact = "ignored"
            try await subject.store.apply([.putAppVersion(changed)])  // a stored version is never replaced
            var store = try await subject.reopen()
            var live2 = version(2)
            var liveOther = version(1, app: "other")
            live2.live = true
            liveOther.live = true
            #expect(try await store.appVersions(workspace: "ws") == [version(1), live2, liveOther])
            #expect(try await store.appVersions(workspace: "nobody").isEmpty)

            try await store.apply([
                .setLiveVersion(workspace: "ws", appName: "app", version: nil),
                .deleteFunctions(workspace: "ws", appName: "app"),
            ])
            store = try await subject.reopen()
            #expect(try await store.appVersions(workspace: "ws") == [version(1), version(2), liveOther])
            #expect(try await store.load().functions.isEmpty)
        }
    }

    @Test(
        "named secrets are stored per workspace and name, replaced, deleted and loaded in order, bytes intact",
        arguments: Kind.available)
    func secrets(kind: Kind) async throws {
        try await withStore(kind) { subject in
            func secret(
                _ name: String, workspace: String, keys: [String], sealed: [UInt8], at seconds: TimeInterval
            )
                -> StoredSecret
            {
                StoredSecret(
                    workspace: workspace, name: name, keys: keys, sealedValues: Data(sealed),
                    createdAt: Date(timeIntervalSince1970: 1_800_000_000),
                    updatedAt: Date(timeIntervalSince1970: 1_800_000_000 + seconds))
            }
            let stripe = secret("stripe", workspace: "alpha", keys: ["API_KEY", "OTHER"], sealed: [0, 1, 255], at: 0)
            let replaced = secret("stripe", workspace: "alpha", keys: ["API_KEY"], sealed: [9, 0, 9], at: 60)
            let sameNameElsewhere = secret("stripe", workspace: "beta", keys: ["K"], sealed: [7], at: 0)
            let doomed = secret("old", workspace: "alpha", keys: ["K"], sealed: [1], at: 0)
            try await subject.store.apply([.putSecret(stripe), .putSecret(sameNameElsewhere), .putSecret(doomed)])
            try await subject.store.apply([
                .putSecret(replaced), .deleteSecret(workspace: "alpha", name: "old"),
                .deleteSecret(workspace: "alpha", name: "never-was"),
            ])
            let store = try await subject.reopen()
            #expect(try await store.load().secrets == [replaced, sameNameElsewhere])
        }
    }

    @Test(
        "dicts and their entries are stored, replaced, removed, cleared and deleted; loaded in key order",
        arguments: Kind.available)
    func dicts(kind: Kind) async throws {
        try await withStore(kind) { subject in
            let at = Date(timeIntervalSince1970: 1_800_000_000)
            func entry(_ key: [UInt8], _ value: String, _ seconds: TimeInterval = 0) -> StoredDictEntry {
                StoredDictEntry(key: Data(key), value: Data(value.utf8), touchedAt: at.addingTimeInterval(seconds))
            }
            let scores = StoredDict(workspace: "alpha", name: "scores", createdAt: at)
            let other = StoredDict(workspace: "beta", name: "scores", createdAt: at)
            let doomed = StoredDict(workspace: "alpha", name: "doomed", createdAt: at)
            let cleared = StoredDict(workspace: "alpha", name: "cleared", createdAt: at)
            try await subject.store.apply([
                .putDict(scores), .putDict(other), .putDict(doomed), .putDict(cleared),
                .putDictEntries(
                    workspace: "alpha", dict: "scores", [entry([2], "two"), entry([1, 0], "one"), entry([0], "zero")]),
                .putDictEntries(workspace: "beta", dict: "scores", [entry([1, 0], "beta")]),
                .putDictEntries(workspace: "alpha", dict: "doomed", [entry([1], "x")]),
                .putDictEntries(workspace: "alpha", dict: "cleared", [entry([1], "x")]),
            ])
            try await subject.store.apply([
                .putDict(StoredDict(workspace: "alpha", name: "scores", createdAt: at.addingTimeInterval(5))),
                .putDictEntries(workspace: "alpha", dict: "scores", [entry([2], "TWO", 60)]),
                .deleteDictEntries(workspace: "alpha", dict: "scores", keys: [Data([0]), Data([9])]),
                .deleteDict(workspace: "alpha", name: "doomed"), .clearDict(workspace: "alpha", name: "cleared"),
            ])
            let store = try await subject.reopen()
            var expectedScores = scores
            expectedScores.entries = [entry([1, 0], "one"), entry([2], "TWO", 60)]
            var expectedOther = other
            expectedOther.entries = [entry([1, 0], "beta")]
            #expect(try await store.load().dicts == [cleared, expectedScores, expectedOther])
        }
    }

    @Test(
        "queues and their items are stored, taken from the front, cleared per partition or all, deleted; loaded in order",
        arguments: Kind.available)
    func queues(kind: Kind) async throws {
        try await withStore(kind) { subject in
            let at = Date(timeIntervalSince1970: 1_800_000_000)
            func item(_ partition: String, _ position: UInt64, _ text: String) -> StoredQueueItem {
                StoredQueueItem(partition: partition, position: position, data: Data(text.utf8), expiresAt: at)
            }
            let work = StoredQueue(workspace: "alpha", name: "work", createdAt: at)
            let gone = StoredQueue(workspace: "alpha", name: "gone", createdAt: at)
            let other = StoredQueue(workspace: "beta", name: "work", createdAt: at)
            try await subject.store.apply([
                .putQueue(work), .putQueue(gone), .putQueue(other),
                .putQueueItems(
                    workspace: "alpha", queue: "work",
                    [item("", 1, "a"), item("", 2, "b"), item("", 3, "c"), item("p", 1, "x"), item("q", 1, "y")]),
                .putQueueItems(workspace: "alpha", queue: "gone", [item("", 1, "z")]),
                .putQueueItems(workspace: "beta", queue: "work", [item("", 1, "beta")]),
            ])
            try await subject.store.apply([
                .deleteQueueItems(workspace: "alpha", queue: "work", partition: "", through: 2),
                .clearQueue(workspace: "alpha", name: "work", partition: "q"),
                .deleteQueue(workspace: "alpha", name: "gone"),
                .putQueue(StoredQueue(workspace: "alpha", name: "work", createdAt: at.addingTimeInterval(9))),
            ])
            let store = try await subject.reopen()
            var expectedWork = work
            expectedWork.items = [item("", 3, "c"), item("p", 1, "x")]
            var expectedOther = other
            expectedOther.items = [item("", 1, "beta")]
            #expect(try await store.load().queues == [expectedWork, expectedOther])
            try await store.apply([.clearQueue(workspace: "beta", name: "work", partition: nil)])
            #expect(try await store.load().queues.last?.items.isEmpty == true)
        }
    }

    @Test(
        "a queue's receipts are stored with their items (empty, binary), loaded oldest first, forgotten by id and with the queue",
        arguments: Kind.available)
    func queueReceipts(kind: Kind) async throws {
        try await withStore(kind) { subject in
            let at = Date(timeIntervalSince1970: 1_800_000_000)
            let put = StoredQueueReceipt(id: "put-1", items: [], createdAt: at)
            let got = StoredQueueReceipt(
                id: "get-1", items: [Data("a".utf8), Data(), Data([0, 255])], createdAt: at + 1)
            let late = StoredQueueReceipt(id: "get-2", items: [Data("b".utf8)], createdAt: at + 2)
            try await subject.store.apply([
                .putQueue(StoredQueue(workspace: "alpha", name: "work", createdAt: at)),
                .putQueue(StoredQueue(workspace: "alpha", name: "gone", createdAt: at)),
                .putQueueReceipt(workspace: "alpha", queue: "work", late),
                .putQueueReceipt(workspace: "alpha", queue: "work", got),
                .putQueueReceipt(workspace: "alpha", queue: "work", put),
                .putQueueReceipt(workspace: "alpha", queue: "gone", put),
            ])
            try await subject.store.apply([
                .deleteQueueReceipts(workspace: "alpha", queue: "work", ids: ["get-2", "unknown"]),
                .deleteQueue(workspace: "alpha", name: "gone"),
            ])
            let loaded = try await subject.reopen().load().queues
            #expect(loaded.map(\.name) == ["work"])
            #expect(loaded.first?.receipts == [put, got])
        }
    }

    @Test("binary data, empty data and large inputs round-trip byte for byte", arguments: Kind.available)
    func binaryData(kind: Kind) async throws {
        try await withStore(kind) { subject in
            let bytes = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            try await subject.store.apply([
                .putCall(call("fc-bin")),
                .putInputs(
                    callID: "fc-bin", [StoredInput(index: 0, data: bytes), StoredInput(index: 1, data: Data())]),
            ])
            let loaded = try await subject.reopen().load()
            #expect(loaded.unfinishedCalls.first?.inputs.map(\.data) == [bytes, Data()])
        }
    }
}

@Suite("SQLite store")
struct SQLiteStoreTests {
    @Test("a store that cannot open says where and why")
    func unopenable() async throws {
        let store = SQLiteStore(path: "/nonexistent-directory/for-sure/aloft.sqlite")
        let error = await #expect(throws: AloftError.self) { try await store.open() }
        #expect(error?.code == .storeFailure)
        #expect(error?.message.contains("/nonexistent-directory/for-sure/aloft.sqlite") == true)
    }
}

/// `.ci/run` sets `ALOFT_REQUIRE_POSTGRES=1`, so that a CI run cannot pass without testing the PostgreSQL store.
@Suite("PostgreSQL availability")
struct PostgresAvailabilityTests {
    @Test(
        "a PostgreSQL server is configured for this run",
        .enabled(if: ProcessInfo.processInfo.environment["ALOFT_REQUIRE_POSTGRES"] == "1"))
    func configured() async throws {
        let url = try #require(testPostgresURL, "ALOFT_TEST_POSTGRES_URL is not set")
        let store = try PostgresStore(url: url, schema: "aloft_availability_check")
        try await store.open()
        try await store.dropSchema()
        await store.close()
    }
}
