// The blocking forms of `Dict`'s methods: each runs its async form on Aloft's runtime and waits (never on the
// runtime's own threads, where that would deadlock: `blockingCallOnRuntimeThread`).

extension Dict {
    /// Blocking form of ``get(_:)-(Key)``.
    public func get(_ key: Key) throws -> Value? {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await dict.get(…)") { try await self.get(key) }
    }

    /// Blocking form of ``put(_:_:skipIfExists:)-(Key,Value,Bool)``.
    @discardableResult
    public func put(_ key: Key, _ value: Value, skipIfExists: Bool = false) throws -> Bool {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await dict.put(…)") {
            try await self.put(key, value, skipIfExists: skipIfExists)
        }
    }

    /// Blocking form of ``update(_:)-(Sequence<(Key,Value)>)``.
    public func update(_ entries: [(Key, Value)]) throws {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await dict.update(…)") { try await self.update(entries) }
    }

    /// Blocking form of ``pop(_:)-(Key)``.
    public func pop(_ key: Key) throws -> Value {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await dict.pop(…)") { try await self.pop(key) }
    }

    /// Blocking form of ``pop(_:default:)-(Key,Value?)``.
    public func pop(_ key: Key, default fallback: Value?) throws -> Value? {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await dict.pop(…, default: …)") {
            try await self.pop(key, default: fallback)
        }
    }

    /// Blocking form of ``contains(_:)-(Key)``.
    public func contains(_ key: Key) throws -> Bool {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await dict.contains(…)") { try await self.contains(key) }
    }

    /// Blocking form of ``count()-()``.
    public func count() throws -> Int {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await dict.count()") { try await self.count() }
    }

    /// Blocking form of ``clear()-()``.
    public func clear() throws {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await dict.clear()") { try await self.clear() }
    }

    /// Blocking form of ``delete()-()``.
    public func delete() throws {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await dict.delete()") { try await self.delete() }
    }

    /// Every entry, read page by page into one array (blocking; `items()` streams them).
    public func allItems() throws -> [(key: Key, value: Value)] {
        try AloftRuntime.shared.runBlocking(asyncForm: "for try await (key, value) in dict.items()") {
            var all: [(key: Key, value: Value)] = []
            for try await item in self.items() { all.append(item) }
            return all
        }
    }

    /// The value of `key`, or `nil` (blocking, as Modal's `d[key]`).
    public subscript(key: Key) -> Value? {
        get throws { try get(key) }
    }
}
