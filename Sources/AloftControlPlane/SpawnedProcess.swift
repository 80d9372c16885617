import AloftCore
import CAloftSpawn
import Foundation
import Synchronization

/// A container's OS process, started with `posix_spawn` (`aloft_spawn`, Sources/CAloftSpawn) rather than
/// Foundation's `Process`, whose `run()` crashed (in `memcpy`) while the server held ~1,500 descriptors, and which
/// passes ignored signals on to the child. A thread of its own starts it, waits for it to end and then reports its
/// status: the child's parent thread lives exactly as long as the child, so a child that asks to die with its
/// parent (bubblewrap's `--die-with-parent`, a parent-death signal, which follows the thread that forked) is not
/// killed when a pool thread that happened to start it retires.
final class SpawnedProcess: Sendable {
    let pid: Int32
    /// Whether the process was reaped: after that its pid may belong to another process and is never signalled.
    private let reaped: Reaped

    /// Starts `executable` with standard output and error onto the given descriptors (-1: /dev/null); `onExit` is
    /// called once, from the waiting thread, with the status as a shell reports it (128 + n when signal n killed
    /// it). With `cgroups` (the `tasks` or `cgroup.procs` files of cgroups), the process joins them before it runs.
    /// Throws `internalFailure` naming the cause (no such executable, out of processes or memory).
    init(
        executable: String, arguments: [String], environment: [String: String], standardOutput: Int32,
        standardError: Int32, cgroups: [String] = [], onExit: @escaping @Sendable (Int32) -> Void
    ) throws {
        let reaped = Reaped()
        let started = Started()
        let arguments = [executable] + arguments
        let environment = environment.map { "\($0.key)=\($0.value)" }
        let thread = Thread {
            let (pid, result) = Self.spawn(
                executable: executable, arguments: arguments, environment: environment, standardOutput: standardOutput,
                standardError: standardError, cgroups: cgroups)
            started.report(pid: pid, result: result)
            guard result == 0 else { return }
            onExit(Self.waitForExit(pid, reaped: reaped))
        }
        thread.name = "aloft-reaper"
        thread.start()
        let (pid, result) = started.wait()
        guard result == 0 else {
            throw AloftError(.internalFailure, "could not start \(executable): \(String(cString: strerror(result)))")
        }
        self.pid = pid
        self.reaped = reaped
    }

    private static func spawn(
        executable: String, arguments: [String], environment: [String], standardOutput: Int32, standardError: Int32,
        cgroups: [String]
    ) -> (pid_t, Int32) {
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        let procs = cgroups.map { UnsafePointer(strdup($0)) } + [nil]
        defer {
            for string in argv + envp { free(string) }
            for string in procs { free(UnsafeMutablePointer(mutating: string)) }
        }
        var pid: pid_t = 0
        let result =
            cgroups.isEmpty
            ? aloft_spawn(&pid, executable, argv, envp, standardOutput, standardError)
            : aloft_spawn_in_cgroups(&pid, executable, argv, envp, standardOutput, standardError, procs)
        return (pid, result)
    }

    /// Sends `signal` to the process, and with `group` to its process group too, unless it was reaped.
    func send(_ signal: Int32, group: Bool = false) {
        reaped.flag.withLock { reaped in
            guard !reaped else { return }
            kill(pid, signal)
            if group { kill(-pid, signal) }
        }
    }

    var isRunning: Bool { !reaped.flag.withLock { $0 } }

    /// Waits until the process ended without reaping it, then reaps it under the lock `send` takes, so that a
    /// signal never reaches a pid the system gave to another process in between.
    private static func waitForExit(_ pid: pid_t, reaped: Reaped) -> Int32 {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        var status: Int32 = 0
        let reapedIt = reaped.flag.withLock { reaped -> Bool in
            var result: pid_t
            repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
            reaped = true
            return result == pid
        }
        guard reapedIt else { return 1 }  // someone else reaped it: its status is unknown
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// Whether a spawned process was reaped, shared by it and its thread.
private final class Reaped: Sendable {
    let flag = Mutex(false)
}

/// The outcome of a start, handed from the process's thread to the caller of `init`.
private final class Started: Sendable {
    private let outcome = Mutex<(pid: pid_t, result: Int32)?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func report(pid: pid_t, result: Int32) {
        outcome.withLock { $0 = (pid, result) }
        ready.signal()
    }

    func wait() -> (pid: pid_t, result: Int32) {
        ready.wait()
        return outcome.withLock { $0! }
    }
}
