import NIOCore

/// The deadlines of the inputs running in one container, in the order they started, under one timer armed for the
/// earliest (`Scheduler+Timeouts.swift`). A container's inputs all have its timeout (it keeps the options it started
/// with), so the order they started in is the order of their deadlines. A timer per input cost a heap entry, a promise and a future per input on
/// the event loop, and their cancellation when it ended.
///
/// An input that ends leaves its entry behind: finished entries at the front are dropped at once (a container
/// mostly finishes inputs in the order they started), the others once they outnumber the running ones. Loop only.
struct InputDeadlines {
    struct Entry {
        let deadline: NIODeadline
        let input: InputRecord
        /// The attempt the entry is for (an input's id changes with every attempt).
        let attemptID: UInt64

        func isRunning(on container: ContainerRecord) -> Bool {
            input.id == attemptID && input.runningContainer === container
        }
    }

    private var entries: [Entry] = []
    private var head = 0
    /// The timer, and the deadline it fires at.
    var timer: (scheduled: Scheduled<Void>, at: NIODeadline)?

    /// Entries kept, the finished ones not dropped yet among them.
    var count: Int { entries.count - head }

    mutating func append(_ entry: Entry) {
        entries.append(entry)
    }

    /// The earliest entry still running on `container`, dropping the finished ones before it.
    mutating func first(runningOn container: ContainerRecord) -> Entry? {
        while head < entries.count, !entries[head].isRunning(on: container) { head += 1 }
        defer { compact(running: container.assigned.count, on: container) }
        return head < entries.count ? entries[head] : nil
    }

    /// An input of `container` stopped running: drops what has finished.
    mutating func inputEnded(on container: ContainerRecord) {
        _ = first(runningOn: container)
    }

    /// Keeps the array to about twice what may still run: the front that was passed is dropped once it is half the
    /// array, finished entries behind a long-running one once they outnumber what the container was sent.
    private mutating func compact(running: Int, on container: ContainerRecord) {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        } else if entries.count - head > 2 * running + 64 {
            entries = entries[head...].filter { $0.isRunning(on: container) }
            head = 0
        }
    }
}
