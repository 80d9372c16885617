import AloftCore
import CAloftSpawn
import Foundation
import Synchronization

/// A container's OS process, started with `posix_spawn` (`aloft_spawn`, Sources/CAloftSpawn) rather than
/// Foundation's `Process`, whose `run()` crashed (in `memcpy`) while the server held ~1,500 descriptors, and which
/// passes ignored signals on to the child. A thread of its own waits for it to end and then reports its status.
final class SpawnedProcess: Sendable {
    let pid: Int32
    /// Whether the process was reaped: after that its pid may belong to another process and is never signalled.
    private let reaped = Mutex(false)

    /// Starts `executable` with standard output and error onto the given descriptors (-1: /dev/null); `onExit` is
    /// called once, from the waiting thread, with the status as a shell reports it (128 + n when signal n killed
    /// it). With `cgroups` (the `tasks` or `cgroup.procs` files of cgroups), the process joins them before it runs.
    /// Throws `internalFailure` naming the cause (no such executable, out of processes or memory).
    init(
        executable: String, arguments: [String], environment: [String: String], standardOutput: Int32,
        standardError: Int32, cgroups: [String] = [], onExit: @escaping @Sendable (Int32) -> Void
    ) throws {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
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
        guard result == 0 else {
            throw AloftError(.internalFailure, "could not start \(executable): \(String(cString: strerror(result)))")
        }
        self.pid = pid
        let waiter = Thread { [self] in onExit(waitForExit()) }
        waiter.name = "aloft-reaper"
        waiter.start()
    }

    /// Sends `signal` to the process, and with `group` to its process group too, unless it was reaped.
    func send(_ signal: Int32, group: Bool = false) {
        reaped.withLock { reaped in
            guard !reaped else { return }
            kill(pid, signal)
            if group { kill(-pid, signal) }
        }
    }

    var isRunning: Bool { !reaped.withLock { $0 } }

    /// Waits until the process ended without reaping it, then reaps it under the lock `send` takes, so that a
    /// signal never reaches a pid the system gave to another process in between.
    private func waitForExit() -> Int32 {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        var status: Int32 = 0
        let reapedIt = reaped.withLock { reaped -> Bool in
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
