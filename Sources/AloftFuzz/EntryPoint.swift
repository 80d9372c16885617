import Foundation

#if FUZZING
import CLibFuzzer

/// The fuzzing build (`scripts/fuzz`: `-sanitize=fuzzer -DFUZZING`): libFuzzer's loop, with its flags.
@main
struct Fuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(
            LLVMFuzzerRunDriver(&argc, &argv) { start, count in
                WireFuzzer.run(start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
                return 0
            })
    }
}
#else
/// Without libFuzzer: replays inputs, as `aloft-fuzz-wire FILE-OR-DIRECTORY…` (scripts/test replays the
/// committed corpus, seeds and every input libFuzzer once found a crash with), or writes the seeds.
@main
struct ReplayInputs {
    static func main() throws {
        let arguments = CommandLine.arguments
        if arguments.count == 3, arguments[1] == "--write-seeds" {
            try Seeds.write(to: arguments[2])
            return
        }
        var replayed = 0
        for argument in CommandLine.arguments.dropFirst() {
            for path in try inputs(at: argument) {
                WireFuzzer.run(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
                replayed += 1
            }
        }
        print("replayed \(replayed) inputs")
    }

    private static func inputs(at path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return [path]
        }
        return try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 }
    }
}
#endif
