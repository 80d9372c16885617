/// One field of a cron expression: its range and names, and how its text becomes a set of values (a bit mask).
struct CronField {
    let name: String
    let range: ClosedRange<Int>
    let names: [String]  // names[i] stands for range.lowerBound + i

    static let minute = CronField(name: "minute", range: 0...59, names: [])
    static let hour = CronField(name: "hour", range: 0...23, names: [])
    static let dayOfMonth = CronField(name: "day of month", range: 1...31, names: [])
    static let month = CronField(
        name: "month", range: 1...12,
        names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
    /// 0...7: 0 and 7 are both Sunday.
    static let dayOfWeek = CronField(
        name: "day of week", range: 0...7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])

    struct Failure: Error {
        let reason: String
    }

    /// The values `text` selects, as bits (bit n: value n).
    func parse(_ text: String) throws(Failure) -> UInt64 {
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            bits |= try parseItem(String(item))
        }
        return bits
    }

    private func parseItem(_ item: String) throws(Failure) -> UInt64 {
        guard !item.isEmpty else { throw Failure(reason: "an empty list item") }
        let parts = item.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw Failure(reason: "more than one '/'") }
        var step = 1
        if parts.count == 2 {
            guard let value = Int(parts[1]), value >= 1, value <= range.upperBound + 1 else {
                throw Failure(reason: "step '\(parts[1])' must be a number from 1 to \(range.upperBound + 1)")
            }
            step = value
        }
        let base = String(parts[0])
        var low: Int
        var high: Int
        if base == "*" {
            (low, high) = (range.lowerBound, range == 0...7 ? 6 : range.upperBound)
        } else if let dash = base.firstIndex(of: "-") {
            low = try value(String(base[..<dash]))
            high = try value(String(base[base.index(after: dash)...]))
            guard low <= high else { throw Failure(reason: "range '\(base)' runs backwards") }
        } else {
            low = try value(base)
            // "5/15": from 5 to the end of the field, as croniter and Vixie cron read it.
            high = parts.count == 2 ? (range == 0...7 ? 6 : range.upperBound) : low
        }
        var bits: UInt64 = 0
        for value in stride(from: low, through: high, by: step) { bits |= 1 << UInt64(value) }
        return bits
    }

    private func value(_ text: String) throws(Failure) -> Int {
        if let number = Int(text), text.allSatisfy(\.isNumber) {
            guard range.contains(number) else {
                throw Failure(reason: "\(number) is outside \(range.lowerBound)-\(range.upperBound)")
            }
            return number
        }
        if let index = names.firstIndex(of: text.uppercased()) { return range.lowerBound + index }
        let known = names.isEmpty ? "" : " or one of \(names.joined(separator: ", "))"
        throw Failure(reason: "'\(text)' is not a number from \(range.lowerBound) to \(range.upperBound)\(known)")
    }
}
