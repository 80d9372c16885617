import AloftCore
import AloftWire
import Foundation
import NIOCore
import Synchronization

/// The inputs sent to a container last, by attempt id: a line its body printed names its input (`OutputTag`), and
/// may be read after the input was answered and left the scheduler's table. Kept as the records themselves (an
/// answered input has let its argument go), so dispatch copies nothing; what a line needs is read when one comes.
struct RecentInputs {
    static let capacity = 32
    private var byID: [UInt64: InputRecord] = [:]
    private var order = CircularBuffer<UInt64>(initialCapacity: 4)

    mutating func sent(_ input: InputRecord) {
        if order.count == Self.capacity { byID[order.removeFirst()] = nil }
        order.append(input.id)
        byID[input.id] = input
    }

    subscript(id: UInt64) -> InputRecord? { byID[id] }
}

/// A container's output read from its pipes and handed to the loop, not yet taken there: at most `limit` bytes, so
/// that containers printing faster than the loop keeps up do not fill its queue. What does not fit is counted, and
/// the next line kept says how many lines were not.
final class PendingOutput: Sendable {
    static let limit = 4 << 20
    private let bytes = Atomic<Int>(0)
    private let droppedLines = Atomic<Int>(0)

    /// Whether `data` may go to the loop (else it is counted as dropped).
    func admit(_ data: Data) -> Bool {
        let total = bytes.add(data.count, ordering: .relaxed).newValue
        guard total > Self.limit else { return true }
        bytes.subtract(data.count, ordering: .relaxed)
        droppedLines.add(data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }, ordering: .relaxed)
        return false
    }

    /// The loop took `data`.
    func taken(_ data: Data) {
        bytes.subtract(data.count, ordering: .relaxed)
    }

    /// Lines dropped since the last call.
    func takeDropped() -> Int { droppedLines.exchange(0, ordering: .relaxed) }
}

extension Scheduler {
    /// A container printed `data` (whole lines, each with the prefix the caller's terminal shows, and perhaps the
    /// tag of the input whose body printed it): its lines are kept, each with its input and call (its tag's, else
    /// the one input running in the container if there is exactly one), and passed, untagged, to the clients
    /// following its app.
    /// `pool` is the container's: its last lines may be read after it is gone, and are kept all the same.
    func containerPrinted(_ containerID: String, _ data: Data, standardError: Bool, pool: FunctionPool) {
        let container = containers[containerID]
        let prefix = Array(ContainerSpec.outputPrefix(functionName: pool.name, containerID: containerID).utf8)
        var running: InputRecord?? = nil  // worked out once, for the untagged lines
        var lines: [LogLine] = []
        let now = wallClock()
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
            let bytes = Array(raw)
            let start = bytes.starts(with: prefix) ? prefix.count : 0
            let (tag, textStart) = OutputTag.read(bytes, at: start)
            let input: InputRecord?
            if let tag {
                input = container?.recentInputs[tag]
            } else {
                if running == nil { running = .some(container.flatMap(onlyRunningInput)) }
                input = running!
            }
            var text = bytes[textStart...]
            var cut = ""
            if text.count > LogLine.maxTextBytes {
                text = text.prefix(LogLine.maxTextBytes)
                cut = "…"
            }
            lines.append(
                LogLine(
                    time: now, workspace: pool.workspace, app: pool.appName, function: input?.functionName ?? pool.name,
                    containerID: containerID, host: container?.worker?.name ?? "local", callID: input?.callID,
                    inputIndex: input?.index, standardError: standardError,
                    text: String(decoding: text, as: UTF8.self) + cut))
        }
        guard !lines.isEmpty else { return }
        if let dropped = container?.pendingOutput.takeDropped(), dropped > 0 {
            lines.insert(
                LogLine(
                    time: now, workspace: pool.workspace, app: pool.appName, function: pool.name,
                    containerID: containerID, host: container?.worker?.name ?? "local", standardError: true,
                    text: "[aloft] \(dropped) lines of this container's output were not kept: it printed faster than "
                        + "the server reads"), at: 0)
        }
        logs.append(lines)

        guard !logFollowers.isEmpty else { return }
        var output = Aloft_V1_ContainerOutput()
        output.containerID = containerID
        output.data = Data(OutputTag.stripped(Array(data), prefixLength: prefix.count))
        output.standardError = standardError
        let key = FunctionRegistry.poolKey(workspace: pool.workspace, app: pool.appName, pool: "")
        for (channel, outputs) in logFollowers.frames(for: output, lines: lines.count, following: key) {
            for output in outputs { send(.containerOutput(output), on: channel) }
        }
    }

    /// The input running in `container` if there is exactly one.
    private func onlyRunningInput(of container: ContainerRecord) -> InputRecord? {
        var found: InputRecord?
        for id in container.assigned {
            guard let input = inputs[id], case .running = input.state else { continue }
            if found != nil { return nil }
            found = input
        }
        return found
    }
}

extension InputRecord {
    /// The call it is part of: a spawned or mapped call's id, or the id a `.remote` call named (none for the HTTP
    /// API's own calls).
    var callID: String? {
        switch owner {
        case .invoke(_, _, let callID): callID.isEmpty ? nil : callID
        case .call(let call): call.id
        case .local: nil
        }
    }
}
