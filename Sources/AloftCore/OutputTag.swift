/// A container's output lines may start with a tag naming the input whose body printed them: `0x1E`, the input's
/// id in decimal, `0x1F`. The SDK writes it on lines printed through `stdout`/`stderr` while a body runs alone; the
/// control plane reads it to keep each line with its call and strips it before anyone sees the line.
package enum OutputTag {
    package static let open: UInt8 = 0x1E
    package static let close: UInt8 = 0x1F

    /// The tag of input `id`.
    package static func tag(_ id: UInt64) -> [UInt8] {
        [open] + Array(String(id).utf8) + [close]
    }

    /// The input id a line's tag names (at `start`, after any prefix), and where the text after the tag begins;
    /// `nil` and `start` for an untagged line.
    package static func read(_ line: some RandomAccessCollection<UInt8>, at start: Int = 0) -> (UInt64?, Int) {
        var index = line.index(line.startIndex, offsetBy: start, limitedBy: line.endIndex) ?? line.endIndex
        guard index != line.endIndex, line[index] == open else { return (nil, start) }
        index = line.index(after: index)
        var id: UInt64 = 0
        var digits = 0
        while index != line.endIndex, digits < 20 {
            let byte = line[index]
            if byte == close {
                guard digits > 0 else { return (nil, start) }
                return (id, line.distance(from: line.startIndex, to: line.index(after: index)))
            }
            guard byte >= 0x30 && byte <= 0x39 else { return (nil, start) }
            let (times, overflowTimes) = id.multipliedReportingOverflow(by: 10)
            let (sum, overflowSum) = times.addingReportingOverflow(UInt64(byte - 0x30))
            guard !overflowTimes && !overflowSum else { return (nil, start) }
            id = sum
            digits += 1
            index = line.index(after: index)
        }
        return (nil, start)
    }

    /// `data` (whole lines, each perhaps starting with `prefixLength` bytes of prefix) with every tag removed.
    package static func stripped(_ data: [UInt8], prefixLength: Int) -> [UInt8] {
        guard data.contains(open) else { return data }
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var lineStart = 0
        while lineStart < data.count {
            let end = data[lineStart...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? data.count
            let line = data[lineStart..<end]
            let (id, textStart) = read(line, at: prefixLength)
            if id != nil {
                out.append(contentsOf: line.prefix(prefixLength))
                out.append(contentsOf: line.dropFirst(textStart))
            } else {
                out.append(contentsOf: line)
            }
            lineStart = end
        }
        return out
    }
}
