// What a container sees of its host, for the isolation tests (IsolationTests, `box_probe` in the test app).
import Foundation

/// What to try from inside a container.
public struct BoxProbeRequest: Codable, Sendable {
    /// Files to read.
    public var read: [String]
    /// Processes to send signal 0 (a check that a signal could be sent).
    public var signal: [Int32]
    /// `host:port`s to open a TCP connection to.
    public var connect: [String]

    public init(read: [String] = [], signal: [Int32] = [], connect: [String] = []) {
        self.read = read
        self.signal = signal
        self.connect = connect
    }
}

/// What a container found.
public struct BoxProbeReport: Codable, Sendable {
    public var uid: UInt32
    public var pid: Int32
    public var hostname: String
    public var containerID: String
    /// The pids listed in its `/proc`.
    public var visibleProcesses: [Int32]
    /// For each file of the request: "ok" when it could be read, else the error.
    public var read: [String: String]
    /// For each pid of the request: "ok" when signal 0 could be sent, else the error.
    public var signal: [Int32: String]
    /// For each address of the request: "ok" when a TCP connection opened, else the error.
    public var connect: [String: String]
    /// Whether it could write a file in its working directory, and which that is.
    public var workingDirectory: String
    public var wroteInWorkingDirectory: Bool

    public init(
        uid: UInt32, pid: Int32, hostname: String, containerID: String, visibleProcesses: [Int32],
        read: [String: String], signal: [Int32: String], connect: [String: String], workingDirectory: String,
        wroteInWorkingDirectory: Bool
    ) {
        self.uid = uid
        self.pid = pid
        self.hostname = hostname
        self.containerID = containerID
        self.visibleProcesses = visibleProcesses
        self.read = read
        self.signal = signal
        self.connect = connect
        self.workingDirectory = workingDirectory
        self.wroteInWorkingDirectory = wroteInWorkingDirectory
    }
}

/// CPU a busy loop got in a container.
public struct BusyReport: Codable, Sendable {
    public var containerID: String
    /// CPU seconds the process used (`CLOCK_PROCESS_CPUTIME_ID`) and the wall seconds it ran.
    public var cpuSeconds: Double
    public var wallSeconds: Double

    public init(containerID: String, cpuSeconds: Double, wallSeconds: Double) {
        self.containerID = containerID
        self.cpuSeconds = cpuSeconds
        self.wallSeconds = wallSeconds
    }
}

/// What a fork bomb got to in its box.
public struct ForkBombReport: Codable, Sendable {
    public var containerID: String
    /// The processes its box held after the bomb had run a while.
    public var processes: Int

    public init(containerID: String, processes: Int) {
        self.containerID = containerID
        self.processes = processes
    }
}
