// An Aloft app: `swift run starter` runs `main` (its functions run in containers of the embedded control plane);
// `swift run starter main --count 100` passes it arguments; `swift run starter main --help` lists them.
import Aloft

let app = App("starter")

/// Runs in a container, one input at a time; what it prints comes back to this terminal.
let square = app.function("square") { (x: Int) -> Int in
    print("squaring \(x)")
    return x * x
}

struct MainArguments: ParsableArguments {
    @Option(help: "How many numbers to square, from 0.") var count = 10
}

app.localEntrypoint("main") { (arguments: MainArguments) async throws in
    print("square(7) = \(try await square.remote(7))")
    var total = 0
    for try await squared in square.map(Array(0..<arguments.count)) { total += squared }
    print("the squares of 0..<\(arguments.count) add up to \(total)")
}

app.main()
