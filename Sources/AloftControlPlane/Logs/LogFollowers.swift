import AloftWire
import Foundation
import NIOCore

/// Clients following the output of an app's containers over the wire (`aloft run`), by `workspace/app`. Used on
/// the loop.
///
/// A follower that reads slower than its containers print is not buffered for: while its connection is not
/// writable its output is skipped, and once it is, a line says how much was (the stored logs have it all).
struct LogFollowers {
    private struct Follower {
        let channel: any WirePeer
        var skippedLines = 0
    }

    private var followers: [String: [ObjectIdentifier: Follower]] = [:]

    var isEmpty: Bool { followers.isEmpty }

    mutating func follow(_ key: String, channel: any WirePeer) {
        followers[key, default: [:]][ObjectIdentifier(channel)] = Follower(channel: channel)
    }

    func isFollowing(_ channel: any WirePeer) -> Bool {
        followers.values.contains { $0[ObjectIdentifier(channel)] != nil }
    }

    /// A closed connection follows nothing.
    mutating func remove(_ channel: any WirePeer) {
        guard !followers.isEmpty else { return }
        for key in Array(followers.keys) {
            followers[key]?[ObjectIdentifier(channel)] = nil
            if followers[key]?.isEmpty == true { followers[key] = nil }
        }
    }

    /// The frames to send to each follower of app `key` for `output` (`lines` lines): the output itself, after a
    /// note of what was skipped if anything was; none for a follower whose connection is not writable.
    mutating func frames(
        for output: Aloft_V1_ContainerOutput, lines: Int, following key: String
    ) -> [(any WirePeer, [Aloft_V1_ContainerOutput])] {
        guard var following = followers[key] else { return [] }
        var frames: [(any WirePeer, [Aloft_V1_ContainerOutput])] = []
        for (id, var follower) in following {
            guard follower.channel.isWritable else {
                follower.skippedLines += lines
                following[id] = follower
                continue
            }
            var outputs: [Aloft_V1_ContainerOutput] = []
            if follower.skippedLines > 0 {
                var note = Aloft_V1_ContainerOutput()
                note.containerID = output.containerID
                note.standardError = true
                note.data = Data(
                    "[aloft] \(follower.skippedLines) lines of output skipped: this connection read them too slowly (`aloft app logs` has them)\n"
                        .utf8)
                outputs.append(note)
                follower.skippedLines = 0
                following[id] = follower
            }
            outputs.append(output)
            frames.append((follower.channel, outputs))
        }
        followers[key] = following
        return frames
    }
}
