import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import AloftControlPlane

/// One conformance suite for both log stores.
@Suite("Log stores")
struct LogStoreTests {
    /// A fresh store of each kind, and how to open the file store again on the same directory.
    static func stores(retention: LogRetention = LogRetention()) throws -> [(String, any LogStore)] {
        let directory = NSTemporaryDirectory() + "aloft-log-store-\(UUID().uuidString)"
        return [
            ("memory", InMemoryLogStore(retention: retention)),
            ("file", try FileLogStore(directory: directory, retention: retention, segmentBytes: 4 << 10)),
        ]
    }

    static func line(
        _ sequence: UInt64, app: String = "a", function: String = "f", call: String? = nil,
        workspace: String = "main", time: Date = Date(), text: String? = nil
    ) -> LogLine {
        LogLine(
            sequence: sequence, time: time, workspace: workspace, app: app, function: function, containerID: "ctr-1",
            callID: call, inputIndex: call == nil ? nil : 0, text: text ?? "line \(sequence)")
    }

    @Test("lines come back in order, filtered by workspace, app, function and call, oldest or newest first")
    func filters() throws {
        for (kind, store) in try Self.stores() {
            var lines: [LogLine] = []
            for sequence in 1...300 as ClosedRange<UInt64> {
                lines.append(
                    Self.line(
                        sequence, app: sequence % 2 == 0 ? "a" : "b", function: sequence % 3 == 0 ? "g" : "f",
                        call: sequence % 5 == 0 ? "fc-5" : nil, workspace: sequence == 7 ? "other" : "main"))
            }
            try store.append(Array(lines[0..<100]))
            try store.append(Array(lines[100...]))
            #expect(try store.lastSequence() == 300, "\(kind)")
            let all = try store.lines(matching: LogQuery(workspace: "main", limit: 10_000))
            let notSeven: [UInt64] = (1...300).filter { $0 != 7 }
            #expect(all.map(\.sequence) == notSeven, "\(kind)")
            var first = all[0]
            #expect(abs(first.time.timeIntervalSince(lines[0].time)) < 0.001, "\(kind)")
            first.time = lines[0].time
            #expect(first == lines[0], "\(kind): a line comes back as it went in")
            let app = try store.lines(matching: LogQuery(workspace: "main", app: "b", function: "g", limit: 10_000))
            let oddThirds: [UInt64] = (1...300).filter { $0 % 2 == 1 && $0 % 3 == 0 }
            #expect(app.map(\.sequence) == oddThirds, "\(kind)")
            let call = try store.lines(matching: LogQuery(workspace: "main", callID: "fc-5", after: 250))
            #expect(call.map(\.sequence) == [255, 260, 265, 270, 275, 280, 285, 290, 295, 300], "\(kind)")
            let newest = try store.lines(matching: LogQuery(workspace: "main", app: "a", limit: 3, newest: true))
            #expect(newest.map(\.sequence) == [296, 298, 300], "\(kind)")
            let page = try store.lines(matching: LogQuery(workspace: "main", after: 10, before: 20, limit: 4))
            #expect(page.map(\.sequence) == [11, 12, 13, 14], "\(kind)")
            let other = try store.lines(matching: LogQuery(workspace: "other"))
            #expect(other.map(\.sequence) == [7], "\(kind)")
        }
    }

    @Test("since selects by time; retention drops the oldest lines past its size and its age")
    func retention() throws {
        let old = Date().addingTimeInterval(-7200)
        for (kind, store) in try Self.stores(retention: LogRetention(maxAge: .seconds(3600), maxBytes: 64 << 10)) {
            try store.append((1...50).map { Self.line($0, time: old) })
            let recent = Date()
            try store.append((51...60).map { Self.line($0, time: recent) })
            let since = try store.lines(matching: LogQuery(workspace: "main", since: recent.addingTimeInterval(-1)))
            #expect(since.map(\.sequence) == Array(51...60), "\(kind)")
            // Far more than 64 KiB: the newest stay, the oldest (and those past the age) go.
            let text = String(repeating: "x", count: 1000)
            for batch in 0..<20 {
                let first = UInt64(61 + batch * 10)
                try store.append((first..<first + 10).map { Self.line($0, text: text) })
            }
            let kept = try store.lines(matching: LogQuery(workspace: "main", limit: 10_000))
            #expect(kept.last?.sequence == 260, "\(kind)")
            #expect(kept.count < 100 && kept.count >= 30, "\(kind): \(kept.count) kept")
            #expect(!kept.contains { $0.sequence <= 50 }, "\(kind): lines past their age are gone")
        }
    }

    @Test("a file store opened again continues its numbering, and cuts a line half-written when its process died")
    func fileReopen() throws {
        let directory = NSTemporaryDirectory() + "aloft-log-reopen-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try FileLogStore(directory: directory)
        try store.append((1...5).map { Self.line($0) })
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: directory).first)
        let handle = try #require(FileHandle(forWritingAtPath: directory + "/" + segment))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"seq\":6,\"tim".utf8))
        try handle.close()

        let reopened = try FileLogStore(directory: directory)
        #expect(reopened.lastSequence() == 5)
        try reopened.append([Self.line(6), Self.line(7)])
        let all = try reopened.lines(matching: LogQuery(workspace: "main"))
        #expect(all.map(\.sequence) == [1, 2, 3, 4, 5, 6, 7])
    }
}

@Suite("The log book")
struct LogBookTests {
    let logger = Logger(label: "aloft.log-book-tests")

    @Test("a waiting follower gets the first matching line as it arrives; a timeout or cancellation ends the wait")
    func waits() async throws {
        let book = LogBook(store: InMemoryLogStore(), logger: logger)
        let waiting = Task { try await book.wait(LogQuery(workspace: "main", function: "g"), timeout: .seconds(30)) }
        // Wait until it waits, then a line it does not match and one it does.
        while !book.hasWaiters { await Task.yield() }
        book.append([LogStoreTests.line(0, function: "f")])
        book.append([LogStoreTests.line(0, function: "g", text: "wanted")])
        let got = try await waiting.value
        #expect(got.map(\.text) == ["wanted"] && got.map(\.sequence) == [2])

        let timedOut = try await book.wait(LogQuery(workspace: "main", after: 2), timeout: .milliseconds(50))
        #expect(timedOut.isEmpty)
        // A timer that fires before the waiter registers still ends the wait.
        for _ in 0..<50 {
            #expect(try await book.wait(LogQuery(workspace: "main", after: 2), timeout: .zero).isEmpty)
        }
        #expect(!book.hasWaiters)
        // A cursor at the very end of the numbers is no crash.
        #expect(try await book.lines(LogQuery(workspace: "main", after: .max)).isEmpty)
        let cancelled = Task { try await book.wait(LogQuery(workspace: "main", after: 2), timeout: .seconds(30)) }
        while !book.hasWaiters { await Task.yield() }
        cancelled.cancel()
        #expect(try await cancelled.value.isEmpty)
        #expect(!book.hasWaiters)
    }

    @Test(
        "memory stays bounded: a reader far behind reads the oldest lines from the store, then the newest from memory")
    func boundedMemory() async throws {
        let store = InMemoryLogStore(retention: LogRetention(maxBytes: 64 << 20))
        let book = LogBook(store: store, recentLimit: 16 << 10, unwrittenLimit: 1 << 20, logger: logger)
        for batch in 0..<50 {
            book.append((0..<20).map { LogStoreTests.line(0, text: "batch \(batch) line \($0)") })
        }
        // Lines the store has not written yet stay in memory (so a reader finds them somewhere), never more than
        // the two limits together, however far the store lags on a loaded machine.
        #expect(book.recentBytes <= (16 << 10) + (1 << 20))
        #expect(try await eventually { store.lastSequence() == 1_000 && !book.isWriting })
        // Once they are written, the next line brings memory down to its limit.
        book.append([LogStoreTests.line(0, text: "after the store caught up")])
        #expect(book.recentBytes <= 16 << 10)
        // What is not in memory any more comes from the store.
        #expect(try await eventually { store.lastSequence() == 1_001 })
        let all = try await book.lines(LogQuery(workspace: "main", limit: 10_000))
        #expect(all.map(\.sequence) == Array(1...1_001))
        let tail = try await book.lines(LogQuery(workspace: "main", limit: 500, newest: true))
        #expect(tail.map(\.sequence) == Array(502...1_001))
        let middle = try await book.lines(LogQuery(workspace: "main", after: 100, limit: 5))
        #expect(middle.map(\.sequence) == [101, 102, 103, 104, 105])
    }

    @Test("an output tag names its input; tags are stripped from what anyone sees")
    func outputTags() {
        let tagged = OutputTag.tag(42) + Array("hello\n".utf8)
        #expect(OutputTag.read(tagged) == (42, 4))
        let prefix = Array("[f ctr-1] ".utf8)
        #expect(OutputTag.read(prefix + tagged, at: prefix.count) == (42, prefix.count + 4))
        #expect(OutputTag.read(Array("plain".utf8)) == (nil, 0))
        #expect(OutputTag.read([OutputTag.open] + Array("4x".utf8) + [OutputTag.close]) == (nil, 0))
        let data = prefix + tagged + prefix + Array("untagged\n".utf8)
        #expect(
            String(decoding: OutputTag.stripped(data, prefixLength: prefix.count), as: UTF8.self)
                == "[f ctr-1] hello\n[f ctr-1] untagged\n")
    }

    @Test("ages read as people write them")
    func humanDurations() {
        #expect(Duration(humanReadable: "90") == .seconds(90))
        #expect(Duration(humanReadable: "10m") == .seconds(600))
        #expect(Duration(humanReadable: "1.5h") == .seconds(5400))
        #expect(Duration(humanReadable: " 7d ") == .seconds(7 * 86_400))
        #expect(Duration(humanReadable: "yesterday") == nil && Duration(humanReadable: "-1m") == nil)
    }
}

func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline { return false }
        try await Task.sleep(for: .milliseconds(5))
    }
    return true
}

@Suite("Container output in the scheduler")
struct OutputAttributionTests {
    @Test(
        "a line tagged by the body that printed it keeps its call even when read after the answer; an untagged one gets the one input running, else none"
    )
    func attribution() async throws {
        let harness = Harness()
        let client = try harness.client()
        let id = try harness.register("f", on: client)
        try client.invoke(id, "x", callID: "fc-named")
        let container = try harness.connectContainer(0)
        let input = try #require(try container.dispatched().first)
        let spec = harness.runtime.started[0].spec
        let prefix = ContainerSpec.outputPrefix(functionName: "f", containerID: spec.containerID)
        let print = { (text: [UInt8]) in
            spec.onOutput?(Data(Array(prefix.utf8) + text + [UInt8(ascii: "\n")]), false)
            harness.loop.run()
        }
        print(Array("while running".utf8))
        try container.answer(input.inputID, .success(Array("ok".utf8)))
        print(OutputTag.tag(input.inputID) + Array("tagged, read late".utf8))
        print(Array("untagged, read late".utf8))

        let lines = try await harness.scheduler.logs.lines(LogQuery(workspace: "", app: "app"))
        #expect(lines.map(\.text) == ["while running", "tagged, read late", "untagged, read late"])
        #expect(lines.map(\.callID) == ["fc-named", "fc-named", nil])
        #expect(lines.allSatisfy { $0.function == "f" && $0.containerID == spec.containerID && $0.host == "local" })
    }
}

@Suite("Log numbering across restarts")
struct LogNumberingTests {
    @Test("a book on a file store numbers on after every number it may have handed out, even lines never stored")
    func reserved() throws {
        let directory = NSTemporaryDirectory() + "aloft-log-numbering-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "aloft.log-numbering-tests")
        let first = LogBook(store: try FileLogStore(directory: directory), logger: logger)
        try first.open()
        first.append([LogStoreTests.line(0), LogStoreTests.line(0)])
        first.close()
        #expect(first.lastSequence == 2)
        // A restart (say after a crash that lost lines a follower had seen): numbers go on past the reservation.
        let second = LogBook(store: try FileLogStore(directory: directory), logger: logger)
        try second.open()
        second.append([LogStoreTests.line(0)])
        #expect(second.lastSequence > LogBook.reservation)
        second.close()
        let stored = try FileLogStore(directory: directory).lines(matching: LogQuery(workspace: "main"))
        #expect(stored.count == 3 && stored.map(\.sequence) == stored.map(\.sequence).sorted())
    }
}

@Suite("Wire followers")
struct LogFollowerTests {
    @Test("a follower whose connection is not writable is skipped, not buffered for; then told how much it missed")
    func slowFollower() throws {
        var followers = LogFollowers()
        let slowChannel = EmbeddedChannel()
        let slow = ChannelPeer(slowChannel)
        let fast = ChannelPeer(EmbeddedChannel())
        followers.follow("main/app/", channel: slow)
        followers.follow("main/app/", channel: fast)
        var output = Aloft_V1_ContainerOutput()
        output.data = Data("a\nb\n".utf8)
        slowChannel.isWritable = false
        let first = followers.frames(for: output, lines: 2, following: "main/app/")
        #expect(first.count == 1 && first[0].0 === fast)
        _ = followers.frames(for: output, lines: 2, following: "main/app/")
        slowChannel.isWritable = true
        let resumed = followers.frames(for: output, lines: 2, following: "main/app/")
        let toSlow = try #require(resumed.first { $0.0 === slow }?.1)
        #expect(toSlow.count == 2 && toSlow[1] == output)
        #expect(String(decoding: toSlow[0].data, as: UTF8.self).contains("4 lines of output skipped"))
        #expect(followers.frames(for: output, lines: 2, following: "main/other/").isEmpty)
    }
}
