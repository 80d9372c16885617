// A second program calling the deployed `hello` app by name; nothing of `hello` is compiled in.
//
//     aloft server &                                  # keeps its token in ~/.aloft/client-token
//     export ALOFT_TOKEN=$(cat ~/.aloft/client-token) ALOFT_CONTROL_PLANE=127.0.0.1:7480
//     aloft deploy hello
//     swift run hello-client                          # calls square, spawns one call and prints its id
//     swift run hello-client fc-…                     # fetches that call's result (after a server restart, too)
import Aloft
import Foundation

let square = Function<Int, Int>.lookup(app: "hello", name: "square")

do {
    if let callID = CommandLine.arguments.dropFirst().first {
        let call = FunctionCall<Int>.lookup(id: callID)
        print("result of \(callID): \(try call.get())")
    } else {
        print("square(12) = \(try square.remote(12))")
        let call = try square.spawn(13)
        print("spawned \(call.id); fetch it later with: swift run hello-client \(call.id)")
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
