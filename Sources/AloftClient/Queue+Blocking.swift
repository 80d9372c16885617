// The blocking forms of `Queue`'s methods (see `Dict+Blocking.swift`).

extension Queue {
    /// Blocking form of ``put(_:timeout:partition:partitionTTL:idempotencyKey:)-(Element,Duration?,String?,Duration,String?)``.
    public func put(
        _ item: Element, timeout: Duration? = nil, partition: String? = nil, partitionTTL: Duration = .seconds(86_400),
        idempotencyKey: String? = nil
    ) throws {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await queue.put(…)") {
            try await self.put(
                item, timeout: timeout, partition: partition, partitionTTL: partitionTTL,
                idempotencyKey: idempotencyKey)
        }
    }

    /// Blocking form of ``putMany(_:timeout:partition:partitionTTL:idempotencyKey:)-([Element],Duration?,String?,Duration,String?)``.
    public func putMany(
        _ items: [Element], timeout: Duration? = nil, partition: String? = nil,
        partitionTTL: Duration = .seconds(86_400), idempotencyKey: String? = nil
    ) throws {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await queue.putMany(…)") {
            try await self.putMany(
                items, timeout: timeout, partition: partition, partitionTTL: partitionTTL,
                idempotencyKey: idempotencyKey)
        }
    }

    /// Blocking form of ``get(timeout:partition:idempotencyKey:)-(Duration?,String?,String?)``.
    public func get(timeout: Duration? = nil, partition: String? = nil, idempotencyKey: String? = nil) throws -> Element
    {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await queue.get(…)") {
            try await self.get(timeout: timeout, partition: partition, idempotencyKey: idempotencyKey)
        }
    }

    /// Blocking form of ``getMany(_:timeout:partition:idempotencyKey:)-(Int,Duration?,String?,String?)``.
    public func getMany(
        _ count: Int, timeout: Duration? = nil, partition: String? = nil, idempotencyKey: String? = nil
    ) throws -> [Element] {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await queue.getMany(…)") {
            try await self.getMany(count, timeout: timeout, partition: partition, idempotencyKey: idempotencyKey)
        }
    }

    /// Blocking form of ``count(partition:total:)-(String?,Bool)``.
    public func count(partition: String? = nil, total: Bool = false) throws -> Int {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await queue.count(…)") {
            try await self.count(partition: partition, total: total)
        }
    }

    /// Blocking form of ``clear(partition:all:)-(String?,Bool)``.
    public func clear(partition: String? = nil, all: Bool = false) throws {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await queue.clear(…)") {
            try await self.clear(partition: partition, all: all)
        }
    }

    /// Blocking form of ``delete()-()``.
    public func delete() throws {
        try AloftRuntime.shared.runBlocking(asyncForm: "try await queue.delete()") { try await self.delete() }
    }
}
