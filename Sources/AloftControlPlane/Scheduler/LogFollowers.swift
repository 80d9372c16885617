import AloftWire
import NIOCore
import Synchronization

/// Clients following the output of an app's containers (`aloft run`), by `workspace/app`.
///
/// Used on the loop, except `hasFollowers`, which output callbacks read off the loop so that output nobody follows
/// is not hopped onto it.
final class LogFollowers: @unchecked Sendable {
    private var followers: [String: [ObjectIdentifier: any Channel]] = [:]
    private let anyFollower = Atomic<Bool>(false)

    var hasFollowers: Bool { anyFollower.load(ordering: .relaxed) }

    func follow(_ key: String, channel: any Channel) {
        followers[key, default: [:]][ObjectIdentifier(channel)] = channel
        anyFollower.store(true, ordering: .relaxed)
    }

    /// The connections following app `key`.
    func channels(following key: String) -> Dictionary<ObjectIdentifier, any Channel>.Values? {
        followers[key]?.values
    }

    func isFollowing(_ channel: any Channel) -> Bool {
        followers.values.contains { $0[ObjectIdentifier(channel)] != nil }
    }

    /// A closed connection follows nothing.
    func remove(_ channel: any Channel) {
        guard !followers.isEmpty else { return }
        for key in Array(followers.keys) {
            followers[key]?[ObjectIdentifier(channel)] = nil
            if followers[key]?.isEmpty == true { followers[key] = nil }
        }
        anyFollower.store(!followers.isEmpty, ordering: .relaxed)
    }
}

extension Scheduler {
    /// Passes a container's output to the clients that follow its app.
    func containerPrinted(_ output: Aloft_V1_ContainerOutput) {
        guard let container = containers[output.containerID] else { return }
        let key = FunctionRegistry.poolKey(workspace: container.pool.workspace, app: container.pool.appName, pool: "")
        for channel in logFollowers.channels(following: key) ?? [:].values {
            send(.containerOutput(output), on: channel)
        }
    }
}
