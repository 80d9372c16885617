import NIOCore
import Testing

@testable import AloftControlPlane

@Suite("The dashboard's window of answered inputs")
struct PoolWindowTests {
    @Test("rates and percentiles over the last five minutes; the oldest give way past the capacity")
    func summary() {
        var window = PoolWindow()
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        #expect(window.summary(now: start).perMinute == 0 && window.summary(now: start).p50 == nil)
        // Ten minutes ago: outside the window whatever it holds.
        window.record(at: start, duration: .milliseconds(1_000), failed: true)
        let now = start + .minutes(10)
        // 100 inputs in the last minute, 1 to 100 ms, every tenth failed, one cancellation without a duration.
        for index in 1...100 {
            window.record(
                at: now - .seconds(60) + .milliseconds(Int64(index) * 600), duration: .milliseconds(Int64(index)),
                failed: index % 10 == 0)
        }
        window.record(at: now, duration: nil, failed: false)
        let summary = window.summary(now: now)
        #expect(summary.p50 == 51 && summary.p99 == 100)
        // Fewer than a minute of inputs and a window not full: counted over one minute.
        #expect(summary.perMinute == 101 && summary.failuresPerMinute == 10)

        // Past the capacity the oldest give way: 4,096 newer inputs of 5 ms leave none of the others.
        for _ in 0..<PoolWindow.capacity { window.record(at: now, duration: .milliseconds(5), failed: false) }
        let full = window.summary(now: now)
        #expect(full.p50 == 5 && full.p99 == 5 && full.failuresPerMinute == 0)
    }
}
