// What containers printed, for `aloft app logs` and the HTTP API's logs routes.

extension ControlPlane {
    /// The kept lines `query` selects, in sequence order.
    public func logLines(_ query: LogQuery) async throws -> [LogLine] {
        try await logs.lines(query)
    }

    /// The kept lines `query` selects or, when there are none, the first that arrive within `timeout` (none if
    /// none do): a follower asks again after the last one it got.
    public func waitForLogLines(_ query: LogQuery, timeout: Duration) async throws -> [LogLine] {
        try await logs.wait(query, timeout: timeout)
    }

    /// The sequence of the newest line: a follower that wants only what comes next starts after it.
    public var lastLogSequence: UInt64 { logs.lastSequence }
}
