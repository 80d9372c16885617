import Foundation

/// The `bwrap` (bubblewrap) command line that boxes one container, and the host paths it shows read-only.
///
/// In the box a container has its own PID, mount, IPC and UTS namespaces (and network, with `blockNetwork`); it
/// sees the host's system directories read-only, the directories of the shared libraries this process runs with
/// (the Swift runtime, where the toolchain lives outside `/usr`), its own executable, a private `/tmp` of its
/// `ephemeralDisk` size that is also its working directory and home, a fresh `/proc` and a minimal `/dev`, and the
/// control plane's Unix socket; nothing else of the host's file system. As root, bubblewrap's box then runs
/// `setpriv` (util-linux), which takes the container to a uid and gid of its own with no capabilities, no
/// supplementary groups and `no_new_privs`. Without root, bubblewrap makes a user namespace too, where the
/// container's uid maps to this process's own, and `prlimit` (util-linux) gives it its pids limit as
/// `RLIMIT_NPROC`, which the kernel counts per user namespace.
struct SandboxCommand: Sendable {
    /// How the container leaves the privileges bubblewrap ran with.
    enum Identity: Sendable {
        /// As root: `setpriv` at this path takes it to its own uid; `prlimit` (where cgroups cannot hold its pids
        /// limit) then limits the tasks of that uid, which is the box's own.
        case setpriv(String, prlimit: String? = nil, pidsLimit: Int = 0)
        /// Without root: a user namespace, and `prlimit` at this path limits its tasks to `pidsLimit`.
        case userNamespace(prlimit: String, pidsLimit: Int)
    }

    let bwrap: String
    let identity: Identity
    /// `--ro-bind`/`--symlink` arguments for the system directories and library directories, worked out once.
    let systemArguments: [String]

    /// Where a container finds the control plane's socket in its box.
    static let socketInBox = "/run/aloft/control.sock"

    init(bwrap: String, identity: Identity) {
        self.bwrap = bwrap
        self.identity = identity
        var arguments: [String] = []
        var shown: [String] = []
        for path in ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                arguments += ["--symlink", target, path]
            } else if Self.isDirectory(path) {
                arguments += ["--ro-bind", path, path]
                shown.append(path)
            }
        }
        var made = Set<String>()
        for directory in Self.libraryDirectories() where !shown.contains(where: { directory.hasPrefix($0 + "/") }) {
            arguments += Self.parents(of: directory, below: shown, made: &made)
            arguments += ["--ro-bind", directory, directory]
        }
        systemArguments = arguments
        shownDirectories = shown
    }

    /// The system directories shown whole.
    private let shownDirectories: [String]

    /// `--dir` arguments for the directories above `path` that are not in the box yet, each readable by all (bwrap
    /// would make them 0700, which a container's uid could not pass).
    private static func parents(of path: String, below shown: [String], made: inout Set<String>) -> [String] {
        var arguments: [String] = []
        var parent = ""
        for component in path.split(separator: "/").dropLast() {
            parent += "/" + component
            guard !shown.contains(where: { parent == $0 || parent.hasPrefix($0 + "/") }), made.insert(parent).inserted
            else { continue }
            arguments += ["--perms", "0755", "--dir", parent]
        }
        return arguments
    }

    /// The command that runs `executable` with `arguments` boxed as `uid`. `socket`: the control plane's Unix
    /// socket on the host, shown at `socketInBox`.
    func arguments(
        containerID: String, executable: String, arguments: [String], uid: UInt32, socket: String?,
        temporaryBytes: Int, blockNetwork: Bool, gpuDevices: [Int] = []
    ) -> [String] {
        var command: [String] = []
        if case .userNamespace = identity {
            // No user namespace can be made inside: the box's uid stays the one it is given.
            command += ["--unshare-user", "--disable-userns", "--uid", "\(uid)", "--gid", "\(uid)"]
        }
        command += [
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent",
            "--new-session", "--hostname", String(containerID.prefix(63)),
        ]
        if blockNetwork { command.append("--unshare-net") }
        command += systemArguments
        command += [
            "--proc", "/proc", "--dev", "/dev", "--size", "\(temporaryBytes)", "--perms", "1777", "--tmpfs", "/tmp",
            // Shared memory its uid can use (bwrap's /dev/shm is root's), as large as Docker's default.
            "--size", "\(64 << 20)", "--perms", "1777", "--tmpfs", "/dev/shm",
        ]
        // Its GPUs' device nodes and the driver's shared ones, where the host has them.
        if !gpuDevices.isEmpty {
            let shared = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
            for device in gpuDevices.map({ "/dev/nvidia\($0)" }) + shared {
                command += ["--dev-bind-try", device, device]
            }
        }
        // Under /tmp the executable's folders are made in the box's own /tmp, which is mounted by then.
        var made: Set<String> = ["/tmp"]
        command += Self.parents(of: executable, below: shownDirectories, made: &made)
        command += ["--ro-bind", executable, executable]
        if let socket {
            command += Self.parents(of: Self.socketInBox, below: shownDirectories, made: &made)
            // Read-only: connecting needs no write to the mount, and the box cannot change the socket's mode.
            command += ["--ro-bind", socket, Self.socketInBox]
        }
        command += ["--chdir", "/tmp", "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp"]
        switch identity {
        case .setpriv(let setpriv, let prlimit, let pidsLimit):
            // Only what setpriv needs to change users; it drops those too.
            command += [
                "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
            ]
            command += [
                "--", setpriv, "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--",
            ]
            command += (prlimit.map { [$0, "--nproc=\(pidsLimit)", "--"] } ?? []) + [executable]
        case .userNamespace(let prlimit, let pidsLimit):
            command += ["--", prlimit, "--nproc=\(pidsLimit)", "--", executable]
        }
        return command + arguments
    }

    /// The directories of the shared libraries mapped into this process (`/proc/self/maps`): a container's
    /// executable links the same Swift runtime as the control plane that starts it.
    private static func libraryDirectories() -> [String] {
        guard let maps = Cgroups.read("/proc/self/maps") else { return [] }
        var directories = Set<String>()
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = String(line[slash...])
            guard path.hasSuffix(".so") || path.contains(".so.") else { continue }
            directories.insert((path as NSString).deletingLastPathComponent)
        }
        return directories.sorted()
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The first executable file named `name` in `PATH` (or the usual system directories).
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        return directories.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
