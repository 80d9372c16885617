import AloftCore
import Foundation

/// The cgroups of a host that limit its containers: version 1 (a hierarchy per controller, as this project's CI
/// machine mounts them) or version 2 (one unified hierarchy). Each container gets a group of its own under an
/// `aloft` group, joined before its first instruction (`aloft_spawn_in_cgroups`), so that everything it starts is
/// counted and limited too; the group is removed once the container is gone.
struct Cgroups: Sendable {
    enum Version: Sendable {
        /// Controller name → the directory of the `aloft` group in that controller's hierarchy.
        case v1([String: String])
        /// The directory of the `aloft` group in the unified hierarchy.
        case v2(String)
    }

    let version: Version
    /// Tasks (processes and threads) one container may have: a fork bomb stops there.
    let pidsLimit: Int

    var description: String {
        switch version {
        case .v1(let groups):
            "cgroup v1 (" + groups.keys.filter { $0 != "cpuacct" }.sorted().joined(separator: ", ") + ")"
        case .v2: "cgroup v2"
        }
    }

    /// The host's cgroups, or why they cannot be used. Containers' groups go under `aloft/p<pid>` in each
    /// hierarchy, a group of this process's own; the groups of processes that are gone (a server killed with
    /// `kill -9` could not remove its containers' groups) are removed on the way.
    static func detect(root: String = "/sys/fs/cgroup", pidsLimit: Int) -> Result<Cgroups, AloftError> {
        let files = FileManager.default
        func fail(_ why: String) -> Result<Cgroups, AloftError> { .failure(AloftError(.invalidConfiguration, why)) }
        let own = "p\(getpid())"
        if files.fileExists(atPath: root + "/cgroup.controllers") {
            let controllers = Self.read(root + "/cgroup.controllers") ?? ""
            for needed in ["memory", "cpu", "pids"] where !controllers.split(separator: " ").contains(Substring(needed))
            {
                return fail("the cgroup v2 hierarchy at \(root) has no \(needed) controller")
            }
            let group = root + "/aloft/" + own
            do {
                // Controllers must be enabled in each parent for the groups below it.
                try write("+memory +cpu +pids", to: root + "/cgroup.subtree_control")
                try makeDirectory(root + "/aloft")
                try write("+memory +cpu +pids", to: root + "/aloft/cgroup.subtree_control")
                removeGroupsOfGoneProcesses(in: root + "/aloft")
                try makeDirectory(group)
                try write("+memory +cpu +pids", to: group + "/cgroup.subtree_control")
                // A container's memory.low protects it only as far as its parents' do.
                for parent in [root + "/aloft", group] { try? write("max", to: parent + "/memory.low") }
            } catch {
                return fail("cannot make cgroup \(group): \(error)")
            }
            return .success(Cgroups(version: .v2(group), pidsLimit: pidsLimit))
        }
        var groups: [String: String] = [:]
        // cpuacct only for accounting (what a container used), where it is a hierarchy of its own; devices where
        // it is mounted (which device nodes a container may open).
        for controller in ["memory", "cpu", "pids", "cpuacct", "devices"] {
            let hierarchy = root + "/" + controller
            guard files.fileExists(atPath: hierarchy + "/cgroup.procs") else {
                if controller == "cpuacct" || controller == "devices" { continue }
                return fail("no cgroup v1 \(controller) hierarchy at \(hierarchy) and no cgroup v2 at \(root)")
            }
            let resolved = (try? files.destinationOfSymbolicLink(atPath: hierarchy)) ?? controller
            if controller == "cpuacct" && resolved.contains("cpu,") { continue }  // mounted with cpu
            do {
                try makeDirectory(hierarchy + "/aloft")
                removeGroupsOfGoneProcesses(in: hierarchy + "/aloft")
                try makeDirectory(hierarchy + "/aloft/" + own)
            } catch {
                return fail("cannot make cgroup \(hierarchy)/aloft/\(own): \(error)")
            }
            groups[controller] = hierarchy + "/aloft/" + own
        }
        return .success(Cgroups(version: .v1(groups), pidsLimit: pidsLimit))
    }

    /// Removes the `p<pid>` groups under `parent` whose process is gone, with their containers' groups (killing
    /// what is left in them).
    private static func removeGroupsOfGoneProcesses(in parent: String) {
        let files = FileManager.default
        for entry in (try? files.contentsOfDirectory(atPath: parent)) ?? [] {
            guard entry.hasPrefix("p"), let pid = Int32(entry.dropFirst()), kill(pid, 0) != 0, errno == ESRCH else {
                continue
            }
            let directory = parent + "/" + entry
            for child in (try? files.contentsOfDirectory(atPath: directory)) ?? [] where child.hasPrefix("ctr-") {
                removeDirectory(directory + "/" + child)
            }
            removeDirectory(directory)
        }
    }

    /// The group of one container.
    struct Group: Sendable {
        /// Its directory in each hierarchy: by controller for v1, under `unified` for v2.
        let directories: [String: String]
        /// The files that list its processes (`cgroup.procs`).
        var procs: [String] { directories.values.sorted().map { $0 + "/cgroup.procs" } }
        /// The files the container's first process joins it through, writing `0` (itself): on v1 `tasks`, which
        /// moves only the writing thread, the whole process just after `fork`. Through `cgroup.procs` the kernel
        /// takes a global lock whose writer waits for an RCU grace period (measured here: 14 ms of a 46 ms cold
        /// start); a thread moving itself skips it. On v2 `cgroup.procs` (`cgroup.threads` is for threaded
        /// groups).
        let joinFiles: [String]
    }

    /// Makes the group of container `id` with `resources`' limits; throws `internalFailure` naming the file.
    func makeGroup(id: String, resources: ContainerResources) throws(AloftError) -> Group {
        var settings: [(directory: String, file: String, value: String)] = []
        var directories: [String: String] = [:]
        let mib = 1 << 20
        switch version {
        case .v1(let parents):
            func add(_ controller: String, _ file: String, _ value: String) {
                guard let parent = parents[controller] else { return }
                settings.append((parent + "/" + id, file, value))
            }
            directories = parents.mapValues { $0 + "/" + id }
            add("memory", "memory.soft_limit_in_bytes", "\(resources.memory.request * mib)")
            if let limit = resources.memory.limit {
                add("memory", "memory.limit_in_bytes", "\(limit * mib)")
                // No way round the limit through swap, where the kernel accounts swap.
                if FileManager.default.fileExists(atPath: (parents["memory"] ?? "") + "/memory.memsw.limit_in_bytes") {
                    add("memory", "memory.memsw.limit_in_bytes", "\(limit * mib)")
                }
            }
            add("cpu", "cpu.shares", "\(max(2, Int(min(resources.cpu.request, 1_024) * 1024)))")
            if let limit = resources.cpu.limit {
                add("cpu", "cpu.cfs_period_us", "100000")
                add("cpu", "cpu.cfs_quota_us", "\(max(1000, Int(min(limit, 1_024) * 100_000)))")
            }
            add("pids", "pids.max", "\(pidsLimit)")
            add("devices", "devices.deny", "a")
            for rule in Self.deviceRules(gpuDevices: resources.gpuDevices) { add("devices", "devices.allow", rule) }
        case .v2(let parent):
            let directory = parent + "/" + id
            directories = ["unified": directory]
            func add(_ file: String, _ value: String) { settings.append((directory, file, value)) }
            add("memory.low", "\(resources.memory.request * mib)")
            if let limit = resources.memory.limit {
                add("memory.max", "\(limit * mib)")
                add("memory.swap.max", "0")
            }
            add("cpu.weight", "\(min(10_000, max(1, Int(min(resources.cpu.request, 1_024) * 100))))")
            if let limit = resources.cpu.limit {
                add("cpu.max", "\(max(1000, Int(min(limit, 1_024) * 100_000))) 100000")
            }
            add("pids.max", "\(pidsLimit)")
        }
        let joinFile =
            switch version {
            case .v1: "/tasks"
            case .v2: "/cgroup.procs"
            }
        let group = Group(directories: directories, joinFiles: directories.values.sorted().map { $0 + joinFile })
        do {
            for directory in directories.values { try Self.makeDirectory(directory) }
            for setting in settings {
                // memory.swap.max is absent without swap accounting: nothing to limit then.
                let path = setting.directory + "/" + setting.file
                if setting.file == "memory.swap.max" && !FileManager.default.fileExists(atPath: path) { continue }
                try Self.write(setting.value, to: path)
            }
        } catch {
            remove(group)
            throw AloftError(.internalFailure, "could not set up the cgroup of container \(id): \(error)")
        }
        return group
    }

    /// The device nodes a container may open (cgroup v1's `devices` controller; v2 has no file for it): those
    /// bubblewrap's minimal `/dev` holds, and the NVIDIA devices of its GPUs (`/dev/nvidiaN` for each, the control
    /// device, and `nvidia-uvm`'s where the driver registered it).
    static func deviceRules(gpuDevices: [Int], devices: String? = read("/proc/devices")) -> [String] {
        var rules = ["c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm"]
        rules.append("c 136:* rwm")  // the box's own pseudo-terminals
        guard !gpuDevices.isEmpty else { return rules }
        rules += gpuDevices.map { "c 195:\($0) rw" } + ["c 195:255 rw"]
        for line in (devices ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2 && fields[1] == "nvidia-uvm", let major = Int(fields[0]) {
                rules.append("c \(major):* rw")
            }
        }
        return rules
    }

    /// Whether the kernel killed a process of `group` for going over its memory limit.
    func wasKilledAtMemoryLimit(_ group: Group) -> Bool {
        let file =
            switch version {
            case .v1: group.directories["memory"].map { $0 + "/memory.oom_control" }
            case .v2: group.directories["unified"].map { $0 + "/memory.events" }
            }
        guard let file, let text = Self.read(file) else { return false }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2 && fields[0] == "oom_kill", let count = Int(fields[1]) { return count > 0 }
        }
        return false
    }

    /// The processes still in `group`.
    func processes(in group: Group) -> [Int32] {
        var found = Set<Int32>()
        for procs in group.procs {
            guard let text = Self.read(procs) else { continue }
            for line in text.split(separator: "\n") { if let pid = Int32(line) { found.insert(pid) } }
        }
        return found.sorted()
    }

    /// CPU time `group` used so far, in seconds (nil where no hierarchy accounts it).
    func cpuSeconds(of group: Group) -> Double? {
        switch version {
        case .v1:
            guard let directory = group.directories["cpuacct"] ?? group.directories["cpu"],
                let text = Self.read(directory + "/cpuacct.usage"),
                let nanoseconds = Double(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { return nil }
            return nanoseconds / 1e9
        case .v2:
            guard let directory = group.directories["unified"],
                let text = Self.read(directory + "/cpu.stat")
            else { return nil }
            for line in text.split(separator: "\n") where line.hasPrefix("usage_usec ") {
                return Double(line.dropFirst("usage_usec ".count)).map { $0 / 1e6 }
            }
            return nil
        }
    }

    /// The memory `group` is charged for now, in bytes (nil where no hierarchy accounts it).
    func memoryBytes(of group: Group) -> Int? {
        let file =
            switch version {
            case .v1: group.directories["memory"].map { $0 + "/memory.usage_in_bytes" }
            case .v2: group.directories["unified"].map { $0 + "/memory.current" }
            }
        return file.flatMap(Self.read).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Kills what is left in `group` and removes it; waits up to two seconds for the kernel to let it go.
    func remove(_ group: Group) {
        for directory in group.directories.values { Self.removeDirectory(directory) }
    }

    /// Kills the processes in the cgroup at `directory` and removes it, trying for up to two seconds (killed
    /// processes leave their group a moment after the signal).
    private static func removeDirectory(_ directory: String) {
        for attempt in 0..<200 {
            for line in (read(directory + "/cgroup.procs") ?? "").split(separator: "\n") {
                if let pid = Int32(line) { kill(pid, SIGKILL) }
            }
            if rmdir(directory) == 0 || errno == ENOENT { return }
            if attempt < 199 { usleep(10_000) }
        }
    }

    /// The text of a kernel file (cgroupfs, procfs), read to its end: they report a size of 0, and Foundation's
    /// `String(contentsOfFile:)` reads one page of them.
    static func read(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.readToEnd()).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw AloftError(.internalFailure, "mkdir \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func write(_ value: String, to path: String) throws {
        let file = open(path, O_WRONLY | O_CLOEXEC)
        guard file >= 0 else { throw AloftError(.internalFailure, "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(file) }
        let bytes = Array(value.utf8)
        guard Foundation.write(file, bytes, bytes.count) == bytes.count else {
            throw AloftError(.internalFailure, "write \(value) to \(path): \(String(cString: strerror(errno)))")
        }
    }
}
