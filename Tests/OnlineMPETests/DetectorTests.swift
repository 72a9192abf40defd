import Foundation
import Testing
@testable import OnlineMPE

/// Change detectors, the streaming quantile and the memory policies as plain value types.
@Suite struct DetectorTests {
    func series(_ n: Int, mean: Double, seed: UInt64) -> [Double] {
        var rng = SplitMix(state: seed)
        return (0..<n).map { _ in mean + 0.3 * rng.normal() }
    }

    @Test func pageHinkleyFindsAnIncreaseAndStaysQuietOnAStationarySeries() {
        var ph = PageHinkley(delta: 0.05, threshold: 20, minimumCount: 30)
        let quiet = series(5000, mean: 1, seed: 1)
        #expect(quiet.compactMap { ph.update($0) }.isEmpty)
        var detector = PageHinkley(delta: 0.05, threshold: 20, minimumCount: 30)
        var at: Int? = nil
        for (i, v) in (series(1000, mean: 1, seed: 2) + series(1000, mean: 1.5, seed: 3)).enumerated() where at == nil {
            if detector.update(v) != nil { at = i }
        }
        #expect((at ?? 0) >= 1000 && (at ?? 0) < 1100, "detected at \(String(describing: at))")
    }

    @Test func adwinFindsAShiftAndShrinksItsWindow() {
        var adwin = ADWIN(delta: 0.002)
        var falseAlarms = 0
        for v in series(4000, mean: 0.5, seed: 4) where adwin.update(v) != nil { falseAlarms += 1 }
        #expect(falseAlarms == 0)
        #expect(adwin.width == 4000)
        #expect(abs(adwin.mean - 0.5) < 0.02)
        var at: Int? = nil
        for (i, v) in series(2000, mean: 1.0, seed: 5).enumerated() where at == nil {
            if adwin.update(v) != nil { at = i }
        }
        #expect((at ?? .max) < 200, "detected after \(String(describing: at)) values")
        #expect(adwin.width < 4000)
        // Variance bookkeeping agrees with a direct computation over a fresh window.
        var fresh = ADWIN(delta: 0.002)
        let values = series(777, mean: 2, seed: 6)
        for v in values { _ = fresh.update(v) }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        #expect(abs(fresh.variance - variance) < 1e-9 * max(1, variance))
    }

    /// A snapshot restores ADWIN's rings from position 0 and the P² markers from their first
    /// lanes, whatever the live value held: the restored detectors equal the originals (ADWIN's
    /// equality compares buckets oldest first, not raw ring storage) and continue identically.
    @Test func detectorsSurviveASnapshotRoundTrip() throws {
        var adwin = ADWIN(delta: 0.002)
        var quantile = StreamingQuantile(quantile: 0.9)
        var early = StreamingQuantile(quantile: 0.5)
        let values = series(3000, mean: 0.5, seed: 11) + series(500, mean: 1.2, seed: 12)
        for v in values {
            _ = adwin.update(v)
            quantile.add(v)
        }
        for v in values.prefix(3) { early.add(v) }
        #expect(adwin.heads.contains { $0 != 0 }, "the test needs rings that do not start at 0")
        var w = SnapshotWriter()
        adwin.write(to: &w)
        quantile.write(to: &w)
        early.write(to: &w)
        var r = SnapshotReader(w.bytes)
        var restored = ADWIN(delta: 0.002)
        try restored.read(from: &r)
        var restoredQuantile = StreamingQuantile(quantile: 0.9)
        try restoredQuantile.read(from: &r)
        var restoredEarly = StreamingQuantile(quantile: 0.5)
        try restoredEarly.read(from: &r)
        #expect(r.isAtEnd)
        #expect(restored == adwin)
        #expect(restoredQuantile == quantile)
        #expect(restoredEarly == early && restoredEarly.value == early.value)
        for v in series(2000, mean: 2, seed: 13) {
            #expect(restored.update(v) == adwin.update(v))
            restoredQuantile.add(v)
            quantile.add(v)
        }
        #expect(restored == adwin && restored.width == adwin.width)
        #expect(restoredQuantile == quantile)
        var other = adwin
        _ = other.update(5)
        #expect(other != adwin)
    }

    @Test func streamingQuantileTracksTheExactQuantile() {
        for q in [0.5, 0.9, 0.99] {
            var estimator = StreamingQuantile(quantile: q)
            var rng = SplitMix(state: 9)
            var values: [Double] = []
            for _ in 0..<20_000 {
                let v = exp(rng.normal())  // skewed, like memorization scores
                values.append(v)
                estimator.add(v)
            }
            values.sort()
            let exact = values[Int(q * Double(values.count))]
            let estimate = estimator.value ?? .nan
            #expect(abs(estimate - exact) / exact < 0.05, "q \(q): \(estimate) vs \(exact)")
        }
    }

    /// `rememberedArrivalSteps` names exactly the examples held (checked through their ids,
    /// which encode the arrival step), for a window (the last `capacity`, in closed form) and a
    /// reservoir (which holds examples far older than that: the case the monitor must keep
    /// the arrivals of).
    @Test(arguments: [MemoryPolicy.window, .reservoir])
    func rememberedArrivalStepsAreTheHeldExamples(policy: MemoryPolicy) throws {
        let capacity = 20
        var learner = try OnlineLearner(configuration: LearnerConfiguration(
            model: .softmax, inputDimension: 5, classes: 3, family: .diagonal,
            memory: .init(capacity: capacity, policy: policy, rescoreInterval: 7)))
        let (xs, ys) = Synthetic.classification(n: 300, d: 5, classes: 3, seed: 5)
        for i in xs.indices {
            let report = try learner.learn(LabeledExample(id: "e\(i)", x: xs[i], y: Double(ys[i])))
            #expect(report.step == i + 1)
        }
        let steps = Array(learner.rememberedArrivalSteps)
        let fromIDs = learner.rememberedScores.compactMap { Int($0.id.dropFirst()).map { $0 + 1 } }
        #expect(steps.count == capacity)
        #expect(steps == fromIDs)
        switch policy {
        case .window: #expect(Set(steps) == Set((300 - capacity + 1)...300))
        case .reservoir: #expect(steps.contains { $0 < 300 - 2 * capacity }, "\(steps.sorted())")
        }
    }

    @Test func windowKeepsTheMostRecentAndReservoirIsUniform() {
        var random = RandomSource(seed: 1)
        var window = ExampleMemory(capacity: 10, columns: 1, policy: .window)
        var slots: [Int: Int] = [:]
        for i in 0..<35 { if let s = window.slotForNext(random: &random) { slots[s] = i } }
        #expect(Set(slots.values) == Set(25..<35))
        // Reservoir: each of 100 items is kept with probability 10/100.
        var kept = [Int](repeating: 0, count: 100)
        for trial in 0..<4000 {
            var r = RandomSource(seed: UInt64(trial) + 10)
            var reservoir = ExampleMemory(capacity: 10, columns: 1, policy: .reservoir)
            var holder = [Int](repeating: -1, count: 10)
            for i in 0..<100 { if let s = reservoir.slotForNext(random: &r) { holder[s] = i } }
            for i in holder { kept[i] += 1 }
        }
        // Binomial(4000, 0.1): mean 400, sd 19; allow 5 sd.
        #expect(kept.allSatisfy { abs($0 - 400) < 95 }, "\(kept.min() ?? 0)...\(kept.max() ?? 0)")
    }
}
