public import Foundation

/// One line a container printed, as the control plane keeps it.
public struct LogLine: Sendable, Hashable, Codable {
    /// The control plane's order of lines, from 1, never reused (it survives a restart of a server with a file
    /// store): a follower resumes after the last one it saw.
    public var sequence: UInt64
    /// When the control plane read it.
    public var time: Date
    public var workspace: String
    public var app: String
    /// The function (or class method) the container serves; the input's own function where one was running.
    public var function: String
    public var containerID: String
    /// `local` (the control plane's own host) or the worker host's id.
    public var host: String
    /// The call and input the line belongs to, where exactly one input was running in its container when it was
    /// read (a container running several at once, or none, prints lines of no call).
    public var callID: String?
    public var inputIndex: UInt64?
    public var standardError: Bool
    /// The line without its newline (and without the prefix the caller's terminal shows).
    public var text: String

    public init(
        sequence: UInt64 = 0, time: Date = Date(), workspace: String, app: String, function: String,
        containerID: String, host: String = "local", callID: String? = nil, inputIndex: UInt64? = nil,
        standardError: Bool = false, text: String
    ) {
        self.sequence = sequence
        self.time = time
        self.workspace = workspace
        self.app = app
        self.function = function
        self.containerID = containerID
        self.host = host
        self.callID = callID
        self.inputIndex = inputIndex
        self.standardError = standardError
        self.text = text
    }

    /// Lines longer than this many bytes are cut (and end in `…`).
    public static let maxTextBytes = 16 * 1024

    /// What the line costs to keep, roughly: its text and fields.
    var bytes: Int { text.utf8.count + workspace.utf8.count + app.utf8.count + function.utf8.count + 96 }

    enum CodingKeys: String, CodingKey {
        case sequence = "seq"
        case time
        case workspace
        case app
        case function
        case containerID = "container"
        case host
        case callID = "call"
        case inputIndex = "input"
        case standardError = "stderr"
        case text
    }
}

/// Which lines to read: those of `workspace` (and of `app`, `function`, `callID`, `containerID` where given), from
/// `since` and after sequence `after`, before sequence `before`; the oldest `limit` of them, or the newest with
/// `newest`.
public struct LogQuery: Sendable, Hashable {
    public var workspace: String
    public var app: String?
    public var function: String?
    public var callID: String?
    public var containerID: String?
    public var since: Date?
    public var after: UInt64
    public var before: UInt64?
    public var limit: Int
    public var newest: Bool

    public static let maxLimit = 10_000

    public init(
        workspace: String = "", app: String? = nil, function: String? = nil, callID: String? = nil,
        containerID: String? = nil, since: Date? = nil, after: UInt64 = 0, before: UInt64? = nil, limit: Int = 1_000,
        newest: Bool = false
    ) {
        self.workspace = workspace
        self.app = app
        self.function = function
        self.callID = callID
        self.containerID = containerID
        self.since = since
        self.after = after
        self.before = before
        self.limit = max(1, min(limit, Self.maxLimit))
        self.newest = newest
    }

    public func matches(_ line: LogLine) -> Bool {
        line.sequence > after && (before.map { line.sequence < $0 } ?? true) && line.workspace == workspace
            && (app.map { $0 == line.app } ?? true) && (function.map { $0 == line.function } ?? true)
            && (callID.map { $0 == line.callID } ?? true) && (containerID.map { $0 == line.containerID } ?? true)
            && (since.map { line.time >= $0 } ?? true)
    }

    /// The query's answer from `lines` (in sequence order): the oldest or newest `limit` that match, in order.
    func select(from lines: some BidirectionalCollection<LogLine>) -> [LogLine] {
        if newest {
            var picked: [LogLine] = []
            for line in lines.reversed() where matches(line) {
                picked.append(line)
                if picked.count == limit { break }
            }
            return picked.reversed()
        }
        var picked: [LogLine] = []
        for line in lines where matches(line) {
            picked.append(line)
            if picked.count == limit { break }
        }
        return picked
    }
}
