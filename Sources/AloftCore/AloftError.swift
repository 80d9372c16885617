/// The one error type Aloft throws.
///
/// `code` says what went wrong in a way code can branch on; `message` says it for people. Codes are static
/// members over a string, so new ones can be added without breaking anybody's `switch`.
public struct AloftError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name of the code; it is what travels on the wire.
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The function body threw. `AloftError.remote` says what, where.
        public static let remoteError = Code(rawValue: "remoteError")
        /// An attempt ran past its timeout, or `FunctionCall.get(timeout:)` ran out before the result was ready.
        public static let timeout = Code(rawValue: "timeout")
        /// The container running the input was lost with its host (or stopped) too many times, or the function's
        /// containers could not start.
        public static let internalFailure = Code(rawValue: "internalFailure")
        /// The container running the input crashed (its process died while the input ran, its host being fine)
        /// each time it ran; the message names the exit status or signal and quotes the container's last lines.
        public static let containerCrashed = Code(rawValue: "containerCrashed")
        /// The container running the input was killed by the kernel for going over its memory limit
        /// (`FunctionOptions.memory`); the message names the limit. The input is not run again (it would most
        /// likely use as much the next time): raise the limit, or retry it yourself.
        public static let outOfMemory = Code(rawValue: "outOfMemory")
        /// The call was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
        /// No such function, call, app or secret.
        public static let notFound = Code(rawValue: "notFound")
        /// A queue's `get` found no item within its timeout.
        public static let queueEmpty = Code(rawValue: "queueEmpty")
        /// A queue's `put` found no room (5,000 items per partition, 100,000 partitions) within its timeout.
        public static let queueFull = Code(rawValue: "queueFull")
        /// A named object (a secret) exists already and the request did not ask to replace it.
        public static let alreadyExists = Code(rawValue: "alreadyExists")
        /// An argument or result could not be decoded as the type the function expects.
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// An encoded argument or result is larger than the inline payload limit.
        public static let payloadTooLarge = Code(rawValue: "payloadTooLarge")
        /// A limit on what the control plane holds was reached (inputs in memory per call, connection or
        /// workspace); the message names the limit. Nothing of the refused request was kept: send it again later.
        public static let resourceExhausted = Code(rawValue: "resourceExhausted")
        /// A blocking call was made on one of the runtime's own threads, where waiting would deadlock.
        public static let blockingCallOnRuntimeThread = Code(rawValue: "blockingCallOnRuntimeThread")
        /// A blocking call was made from async code while `ALOFT_ASYNC_WARNINGS=error` makes that an error.
        public static let blockingCallInAsyncContext = Code(rawValue: "blockingCallInAsyncContext")
        /// The control plane could not be reached, or the connection to it broke.
        public static let connectionFailed = Code(rawValue: "connectionFailed")
        /// The peer speaks a protocol version or message this side does not understand.
        public static let protocolError = Code(rawValue: "protocolError")
        /// A function was declared or configured wrongly.
        public static let invalidConfiguration = Code(rawValue: "invalidConfiguration")
        /// The control plane's store (its database) failed: the request was not accepted.
        public static let storeFailure = Code(rawValue: "storeFailure")
        /// The server needs a token and got none, or one it does not know or that was revoked.
        public static let unauthenticated = Code(rawValue: "unauthenticated")
    }

    /// Where a failure that happened in a container came from.
    public struct RemoteFailure: Sendable, Hashable {
        /// The Swift type name of the error the body threw, as `String(reflecting:)` spells it.
        public var typeName: String
        /// The error's description.
        public var message: String
        public var functionName: String
        public var containerID: String
        /// The HTTP status a web endpoint's body chose for this error (`WebEndpointError`), if any.
        public var httpStatus: Int?

        public init(
            typeName: String, message: String, functionName: String, containerID: String, httpStatus: Int? = nil
        ) {
            self.httpStatus = httpStatus
            self.typeName = typeName
            self.message = message
            self.functionName = functionName
            self.containerID = containerID
        }
    }

    public var code: Code
    public var message: String
    public var remote: RemoteFailure?

    public init(_ code: Code, _ message: String, remote: RemoteFailure? = nil) {
        self.code = code
        self.message = message
        self.remote = remote
    }

    public var description: String {
        if let remote {
            return
                "AloftError.\(code): \(remote.typeName): \(remote.message) (in function '\(remote.functionName)', container \(remote.containerID))"
        }
        return "AloftError.\(code): \(message)"
    }
}
