import Aloft
import Foundation
import Testing

/// Generator functions, on the real path (container processes).
@Suite("Generators", .serialized, .timeLimit(.minutes(3)))
struct GeneratorTests {
    let countUp: GeneratorFunction<Int, Int> = fixtures.lookupGenerator("count_up")
    let blockingItems: GeneratorFunction<Int, String> = fixtures.lookupGenerator("blocking_items")

    @Test("items arrive in order")
    func itemsInOrder() async throws {
        var items: [Int] = []
        for try await item in countUp.remoteStream(50) { items.append(item) }
        #expect(items == Array(0..<50))
        var none = 0
        for try await _ in countUp.remoteStream(0) { none += 1 }
        #expect(none == 0)
    }

    @Test("a throw mid-stream reaches the caller after the items before it, and is not retried")
    func throwMidStream() async throws {
        let plain: GeneratorFunction<String, Int> = fixtures.lookupGenerator("record_then_fail")
        let retrying: GeneratorFunction<String, Int> = App("generator-retries", configuration: fixtures.configuration)
            .lookupGenerator(
                "record_then_fail", options: FunctionOptions(retries: Retries(maxRetries: 3, initialDelay: .zero)))
        for generator in [plain, retrying] {
            let path = temporaryPath("aloft-generator-runs")
            defer { try? FileManager.default.removeItem(atPath: path) }
            var items: [Int] = []
            let error = await aloftError {
                for try await item in generator.remoteStream(path) { items.append(item) }
            }
            #expect(items == [0, 1, 2])
            #expect(error?.code == .remoteError)
            #expect(error?.remote?.typeName.hasSuffix("PlainError") == true)
            // Retries with no delay would have run the body again by now (a check that nothing happens waits).
            try await Task.sleep(for: .seconds(1))
            let runs = (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").count
            #expect(runs == 1)
        }
    }

    @Test("a timeout ends the stream after the items sent before it")
    func timeoutEndsTheStream() async throws {
        let never = temporaryPath("aloft-never")  // wait_between_items waits for it, up to 30 s
        let slow: GeneratorFunction<String, String> = App("generator-timeout", configuration: fixtures.configuration)
            .lookupGenerator("wait_between_items", options: FunctionOptions(timeout: .seconds(2)))
        var items: [String] = []
        let error = await aloftError { for try await item in slow.remoteStream(never) { items.append(item) } }
        #expect(items == ["first"])
        #expect(error?.code == .timeout)
    }

    @Test("a crashed container ends its generator's stream with containerCrashed; the body is not run again")
    func crashEndsTheStream() async throws {
        let path = temporaryPath("aloft-generator-runs")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let crashing: GeneratorFunction<String, String> = App(
            "generator-crash", configuration: fixtures.configuration
        ).lookupGenerator("yield_then_crash", options: FunctionOptions(retries: Retries(maxRetries: 2)))
        var items: [String] = []
        let error = await aloftError { for try await item in crashing.remoteStream(path) { items.append(item) } }
        #expect(items == ["first"])
        #expect(error?.code == .containerCrashed, "\(String(describing: error))")
        try await Task.sleep(for: .seconds(2))  // a re-run (after 1 s, as an input's would) would have started by now
        #expect((try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").count == 1)
    }

    @Test("a blocking body's items, read with the blocking form")
    func blockingGenerator() async throws {
        let items = try await onPlainThread { try blockingItems.remoteStream(3).blocking.map { try $0.get() } }
        #expect(items == ["item 0", "item 1", "item 2"])
    }

    @Test("items stream while the generator runs")
    func streamsAsItGoes() async throws {
        let path = temporaryPath("aloft-generator")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let waitBetweenItems: GeneratorFunction<String, String> = fixtures.lookupGenerator("wait_between_items")
        var iterator = waitBetweenItems.remoteStream(path).makeAsyncIterator()
        #expect(try await iterator.next() == "first")  // before the generator may go on
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        #expect(try await iterator.next() == "second")
        #expect(try await iterator.next() == nil)
    }
}
