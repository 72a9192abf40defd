import Stream
import Testing

@Suite("LogThrottle")
struct LogThrottleTests {
    @Test("the first event is logged at once, then at most one line per interval with the count since; drain takes the rest")
    func throttles() {
        var throttle = LogThrottle(interval: .seconds(10))
        let t0 = ContinuousClock.now
        #expect(throttle.record(now: t0) == 1)
        for i in 1...5 { #expect(throttle.record(now: t0 + .seconds(i)) == nil) }
        // 10 s after the last line: one line for the 5 held back and this one.
        #expect(throttle.record(now: t0 + .seconds(10)) == 6)
        #expect(throttle.record(now: t0 + .seconds(15)) == nil)
        #expect(throttle.drain() == 1)
        #expect(throttle.drain() == 0)
        // Nothing held back: the next event after a quiet interval is a line of its own.
        #expect(throttle.record(now: t0 + .seconds(30)) == 1)
    }
}
