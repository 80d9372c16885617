import Foundation

/// Bounds on the connections of a control plane's wire port, so that peers that never authenticate, or never
/// say anything, cannot take what the callers, containers and worker hosts need.
///
/// A peer is an IP address; connections over the Unix socket (this host's containers) have none and are counted
/// only in `total`.
public struct ConnectionLimits: Sendable, Hashable {
    /// Connections kept open at once; more are closed as they arrive. The default leaves room under the process's
    /// descriptor limit for containers' pipes, the store and the HTTP API.
    public var total: Int
    /// Connections from one peer that are not welcomed yet (their hello unsent or its token being checked); more
    /// from that peer are closed as they arrive. Welcomed ones are not counted per peer: a worker host's containers
    /// all share its address.
    public var unwelcomedPerPeer: Int
    /// How long a new connection has to be welcomed before it is closed.
    public var helloTimeout: Duration
    /// The largest frame a connection may send before it is welcomed; larger ones close it. A `Hello` is a few
    /// hundred bytes; the SDK sends nothing else before its hello is answered.
    public var preWelcomeFrameBytes: Int
    /// A welcomed client connection that has sent nothing for this long, and waits for nothing (no `.remote` in
    /// flight, no map or generator it feeds, no `get` pending, no logs followed), is closed; the SDK opens a new
    /// one on its next call. `nil`: never (the embedded default, whose only client is its own process).
    public var idleTimeout: Duration?

    public init(
        total: Int = ConnectionLimits.defaultTotal,
        unwelcomedPerPeer: Int = 64,
        helloTimeout: Duration = .seconds(10),
        preWelcomeFrameBytes: Int = 64 * 1024,
        idleTimeout: Duration? = nil
    ) {
        self.total = total
        self.unwelcomedPerPeer = unwelcomedPerPeer
        self.helloTimeout = helloTimeout
        self.preWelcomeFrameBytes = preWelcomeFrameBytes
        self.idleTimeout = idleTimeout
    }

    /// Half of the process's descriptor limit, at most 4,096 (each connection takes a descriptor; each container
    /// takes a few more).
    public static var defaultTotal: Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return max(16, min(4096, Int(clamping: limit.rlim_cur) / 2))
    }
}

/// Open connections counted by peer address, against a cap per peer.
package struct PeerCounts: Sendable {
    package let limit: Int
    private var counts: [String: Int] = [:]

    package init(limit: Int) { self.limit = limit }

    /// Counts one more connection from `peer`; false (nothing counted) when it has `limit` already.
    package mutating func admit(_ peer: String) -> Bool {
        let count = counts[peer, default: 0]
        guard count < limit else { return false }
        counts[peer] = count + 1
        return true
    }

    /// One connection from `peer` is gone.
    package mutating func release(_ peer: String) {
        guard let count = counts[peer] else { return }
        counts[peer] = count > 1 ? count - 1 : nil
    }

    package func count(of peer: String) -> Int { counts[peer, default: 0] }

    /// Peers with at least one connection counted.
    package var peers: Int { counts.count }
}

/// Counts refusals so that a flood of them is logged now and then, not once per connection.
package struct RefusalLog: Sendable {
    package private(set) var refused = 0

    package init() {}

    /// Counts one refusal; true when this one should be logged (the first, then every 1,000th).
    package mutating func count() -> Bool {
        refused += 1
        return refused == 1 || refused.isMultiple(of: 1000)
    }
}
