// The quick start: `swift run hello`.
import Aloft
import Foundation

let app = App("hello")

// A function: it runs in a container, a separate process started from this same executable.
let square = app.function("square") { (x: Int) -> Int in
    print("squaring \(x) in process \(ProcessInfo.processInfo.processIdentifier)")
    return x * x
}

// The entrypoint runs here, in the caller's process, and calls the function remotely.
app.localEntrypoint {
    print("caller process \(ProcessInfo.processInfo.processIdentifier)")
    print("square(7) = \(try square.remote(7))")
    let squares = try square.map(1...5).blocking.map { try $0.get() }
    print("squares of 1...5 = \(squares)")
}

app.main()
