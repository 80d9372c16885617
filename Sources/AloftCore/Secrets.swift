/// Comparing secrets (tokens, their hashes) without returning at the first difference, so that the time a
/// comparison takes says nothing about how much of a guess was right.
package enum Secrets {
    package static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
