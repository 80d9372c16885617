package import AloftCore

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

/// Ids of calls with inputs of their own: the caller picks one (`fc-` and random hex) so that it can route pushed
/// outputs before the call is acknowledged.
package enum CallID {
    package static func make() -> String {
        "fc-" + String(UInt64.random(in: .min ... .max), radix: 16)
            + String(UInt64.random(in: .min ... .max), radix: 16)
    }

    package static func isWellFormed(_ id: String) -> Bool {
        id.hasPrefix("fc-")
    }
}
