import Foundation

/// An executor that runs every job on one thread of its own, never on the cooperative pool.
///
/// Blocking calls that run a user's code use one; containers use another for async function bodies, so that
/// everything in a container's async inputs runs on one thread, as Modal runs coroutines on one loop.
package final class DedicatedThreadExecutor: TaskExecutor, SerialExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var threadID: pthread_t?

    package init(name: String) {
        let started = DispatchSemaphore(value: 0)
        // The thread keeps its executor alive: an in-process container (AloftTesting) may end while jobs remain.
        let thread = Thread { [self] in
            condition.lock()
            threadID = pthread_self()
            condition.unlock()
            started.signal()
            runJobs()
        }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
        started.wait()
    }

    /// True when called on this executor's thread.
    package var isCurrentThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let threadID else { return false }
        return pthread_equal(threadID, pthread_self()) != 0
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    private func runJobs() {
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        }
    }
}

/// Blocks a thread until an async operation, started elsewhere, hands back its result.
final class BlockingResult<T: Sendable>: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private var result: Result<T, any Error>?

    func set(_ result: Result<T, any Error>) {
        self.result = result
        semaphore.signal()
    }

    func wait() throws -> T {
        semaphore.wait()
        return try result!.get()
    }
}
