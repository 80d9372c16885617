import Aloft
import Foundation
import Testing

/// The autoscaler's knobs, on the real path (container processes). Each test uses an app of its own, so that its
/// functions get pools of their own.
@Suite("Autoscaling", .serialized, .timeLimit(.minutes(3)))
struct AutoscalingTests {
    func app(_ name: String) -> App { App(name, configuration: fixtures.configuration) }

    @Test("minContainers keeps that many containers warm")
    func minContainers() async throws {
        let function: Function<NoArguments, Int32> = app("scale-min").lookup(
            "process_id", options: FunctionOptions(minContainers: 2, scaledownWindow: .seconds(1)))
        _ = try await function.remote()
        #expect(try await eventuallyAsync { (try? await function.stats().containers) == 2 })
        // Well past the 1 s scale-down window, idle as they are, both are still there (a check that nothing
        // happens has to wait: three windows).
        try await Task.sleep(for: .seconds(3))
        #expect(try await function.stats().containers == 2)
    }

    @Test("maxContainers bounds the containers of a burst, and the burst gets that many")
    func maxContainers() async throws {
        let function: Function<ArgumentPair<String, Int>, Where> = app("scale-max").lookup(
            "file_barrier", options: FunctionOptions(maxContainers: 2))
        let barrier = temporaryPath("aloft-barrier")
        defer { try? FileManager.default.removeItem(atPath: barrier) }
        // Each input waits until two have arrived: the first two need two containers at once (one input each), so
        // the burst cannot be served by fewer; twelve inputs want twelve, and may have two.
        let sampling = Task {
            var most = 0
            while !Task.isCancelled {
                most = max(most, (try? await function.stats().containers) ?? 0)
                try? await Task.sleep(for: .milliseconds(20))
            }
            return most
        }
        var places: [Where] = []
        for try await place in function.starmap(Array(repeating: (barrier, 2), count: 12), orderOutputs: false) {
            places.append(place)
        }
        sampling.cancel()
        #expect(places.count == 12)
        #expect(Set(places.map(\.process)).count == 2)
        #expect(await sampling.value <= 2)
        #expect(try await function.stats().containers <= 2)
    }

    @Test("bufferContainers adds idle containers while the function is busy")
    func bufferContainers() async throws {
        let function: Function<Double, Int> = app("scale-buffer").lookup(
            "sleepy", options: FunctionOptions(bufferContainers: 1))
        // The input runs until it is cancelled below, so the check never races its end on a loaded machine.
        let call = try await function.spawn(120)
        // One container for the input, one idle buffer container.
        #expect(
            try await eventuallyAsync {
                (try? await function.stats()) == FunctionStats(backlog: 0, runningInputs: 1, containers: 2)
            })
        try await call.cancel()
    }

    @Test("targetInputs spreads inputs over containers; maxInputs is the burst limit")
    func targetInputs() async throws {
        let options = FunctionOptions(maxContainers: 5).concurrent(maxInputs: 10, targetInputs: 2)
        let function: Function<ArgumentPair<String, Int>, Where> = app("scale-target").lookup(
            "file_barrier", options: options)
        let barrier = temporaryPath("aloft-barrier")
        defer { try? FileManager.default.removeItem(atPath: barrier) }
        // All ten inputs wait until all ten run, so none ends (and frees a place) while containers still start.
        var places: [Where] = []
        for try await place in function.starmap(Array(repeating: (barrier, 10), count: 10), orderOutputs: false) {
            places.append(place)
        }
        let perProcess = Dictionary(grouping: places, by: \.process).mapValues(\.count)
        #expect(perProcess.count == 5, "inputs per container: \(perProcess)")
        #expect(perProcess.values.allSatisfy { $0 == 2 })

        // At maxContainers, a burst of fifty inputs that all wait for each other runs ten to a container (maxInputs).
        let burst = temporaryPath("aloft-barrier")
        defer { try? FileManager.default.removeItem(atPath: burst) }
        places = []
        for try await place in function.starmap(Array(repeating: (burst, 50), count: 50), orderOutputs: false) {
            places.append(place)
        }
        let perContainer = Dictionary(grouping: places, by: \.process).mapValues(\.count)
        #expect(perContainer.count == 5 && perContainer.values.allSatisfy { $0 == 10 }, "\(perContainer)")
    }

    @Test("stats reports backlog, running inputs and containers")
    func stats() async throws {
        let function: Function<Double, Int> = app("scale-stats").lookup(
            "sleepy", options: FunctionOptions(maxContainers: 1))
        let calls = try await (0..<3).asyncMap { _ in try await function.spawn(1.5) }
        #expect(
            try await eventuallyAsync {
                (try? await function.stats()) == FunctionStats(backlog: 2, runningInputs: 1, containers: 1)
            })
        for call in calls { _ = try await call.get() }
        #expect(try await function.stats() == FunctionStats(backlog: 0, runningInputs: 0, containers: 1))
    }

    @Test("each function is its own pool of containers")
    func poolPerFunction() async throws {
        let app = app("scale-pools")
        let first: Function<NoArguments, Int32> = app.lookup("process_id")
        let second: Function<Double, Where> = app.lookup("sleep_and_report")
        #expect(try await first.remote() != second.remote(0).process)
    }
}
