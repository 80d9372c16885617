package import AloftCore
import Synchronization

// What every client of the protocol does the same way: the hello it opens with, the call ids it picks, and how an
// error reply becomes an `AloftError`.

extension Aloft_V1_Hello {
    /// The first message of a connection, in this build's protocol version.
    package init(role: Aloft_V1_Role, containerID: String = "", token: String = "") {
        self.init()
        protocolVersion = AloftLimits.protocolVersion
        self.role = role
        self.containerID = containerID
        self.token = token
    }
}

extension Aloft_V1_ErrorReply {
    /// The error the control plane refused a request with.
    package var aloftError: AloftError { AloftError(AloftError.Code(rawValue: code), message) }
}

extension Aloft_V1_Envelope {
    /// The body of a reply; an `ErrorReply` is thrown as the `AloftError` it names, an empty reply as
    /// `protocolError`.
    package func replyBody() throws(AloftError) -> OneOf_Body {
        switch body {
        case .error(let error): throw error.aloftError
        case .some(let body): return body
        case nil: throw AloftError(.protocolError, "empty reply from the control plane")
        }
    }
}

/// Ids of calls with inputs of their own: the caller picks one (`fc-` and 32 hex digits) so that it can route pushed
/// outputs before the call is acknowledged.
///
/// The first 16 digits are drawn once per process, the last 16 are a counter scrambled by a bijection keyed per
/// process: unique in the process, distinct across processes but for a 2⁻⁶⁴ chance per pair, and no system call per
/// id (drawing 128 random bits per call cost two `getrandom` calls). They are names, not secrets: what a call id
/// gives is bounded by the workspace of the token that presents it.
package enum CallID {
    private static let processPart = hex(UInt64.random(in: .min ... .max))
    private static let key = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(0)

    package static func make() -> String {
        "fc-" + processPart + hex(scrambled(counter.add(1, ordering: .relaxed).newValue ^ key))
    }

    /// SplitMix64's finalizer: a bijection of 64-bit values that spreads each bit over all of them.
    private static func scrambled(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    package static func isWellFormed(_ id: String) -> Bool {
        id.hasPrefix("fc-")
    }
}
