// A second program calling the deployed `hello` app by name; nothing of `hello` is compiled in.
//
//     aloft server &                                  # keeps its token in ~/.aloft/client-token
//     export ALOFT_TOKEN=$(cat ~/.aloft/client-token)
//     aloft deploy hello
//     ALOFT_CONTROL_PLANE=127.0.0.1:7480 swift run hello-client       # calls square, spawns one call, prints its id
//     ALOFT_CONTROL_PLANE=127.0.0.1:7480 swift run hello-client fc-…  # that call's result (after a restart, too)
//
// (Exported, ALOFT_CONTROL_PLANE would send every app of this shell to the server, `swift run hello` included.)
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
