// Modal's "Asynchronous API usage" page, in Swift: `swift run seed-example`.
import Aloft

let app = App("seed")

// Async and blocking function bodies both work, called from either context.
let blockingFunction = app.function("blocking_function") { () -> Int in
    42
}

let asyncFunction = app.function("async_function") { () async throws -> Int in
    let x = try await blockingFunction.remote()  // the async form, from an async body
    return x * 10
}

let myfunc = app.function("myfunc") { () async -> Int in
    1
}

// A synchronous entrypoint uses the blocking form.
app.localEntrypoint("blocking_main") {
    print(try asyncFunction.remote())  // => 420
}

// An async entrypoint: 100 remote calls to myfunc in parallel, gathered.
app.localEntrypoint("async_main") { () async throws in
    let results = try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<100 {
            group.addTask { try await myfunc.remote() }
        }
        return try await group.reduce(into: [Int]()) { $0.append($1) }
    }
    print("gathered \(results.count) results")
}

app.main()
