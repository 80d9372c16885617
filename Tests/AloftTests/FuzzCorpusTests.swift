import Foundation
import Testing

/// The wire fuzzer's corpus (fuzz/corpus/wire: its seeds, what libFuzzer kept, and every input it once crashed
/// with) replayed through the control plane's connection pipeline by `aloft-fuzz-wire`, built without libFuzzer:
/// an input that crashed the server once stays a test. `scripts/fuzz` runs libFuzzer itself.
@Suite("Wire fuzzer corpus", .timeLimit(.minutes(2)))
struct FuzzCorpusTests {
    @Test("every input of the committed corpus goes through the control plane's pipeline without a trap")
    func replayCorpus() async throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../fuzz/corpus/wire").standardizedFileURL.path
        let inputs = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(inputs.filter { $0.hasPrefix("seed-") }.count >= 12, "the seeds are in \(corpus)")
        let replay = try await runProduct("aloft-fuzz-wire", arguments: [corpus])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("replayed \(inputs.count) inputs"), "\(replay.stdout)")
    }
}
