import Testing
@testable import OnlineMPE

/// The flag rules on a stream with known flipped labels.
@Suite struct FlagTests {
    @Test func flippedLabelsAreFlaggedAsMislabeledWithReasons() throws {
        let (xs, ys) = Synthetic.classification(n: 3000, d: 8, classes: 4, seed: 41, separation: 2)
        var flipped = Set<String>()
        var c = LearnerConfiguration(model: .softmax, inputDimension: 8, classes: 4, family: .diagonal, priorPrecision: 1)
        c.flags.warmup = 100
        var learner = try OnlineLearner(configuration: c)
        var flagged = Set<String>()
        for i in xs.indices {
            var y = ys[i]
            if i % 20 == 7 {
                y = (y + 1) % 4
                flipped.insert("e\(i)")
            }
            let report = try learner.learn(LabeledExample(id: "e\(i)", x: xs[i], y: Double(y)))
            for flag in report.flags where flag.kind == .mislabeled {
                flagged.insert(flag.exampleID ?? "")
                #expect(flag.reason.contains("class threshold"))
                #expect(flag.scores != nil && flag.givenLabel != nil)
            }
        }
        let hits = flagged.intersection(flipped).count
        let precision = Double(hits) / Double(max(flagged.count, 1))
        let recall = Double(hits) / Double(flipped.count)
        print("mislabeled flags: \(flagged.count), precision \(precision), recall \(recall)")
        #expect(precision > 0.6)
        #expect(recall > 0.6)
    }

    @Test func noFlagsBeforeWarmupAndDriftIsFlaggedWhenLabelsSwap() throws {
        let (xs, ys) = Synthetic.classification(n: 6000, d: 6, classes: 3, seed: 42, separation: 2)
        var c = LearnerConfiguration(model: .softmax, inputDimension: 6, classes: 3, family: .diagonal, forgetting: 0.999,
                                     memory: .init(capacity: 256, rescoreInterval: 64))
        c.flags.warmup = 500
        var learner = try OnlineLearner(configuration: c)
        var firstDrift: Int? = nil
        for i in xs.indices {
            // Classes 0 and 1 swap labels half-way.
            var y = ys[i]
            if i >= 3000 && y < 2 { y = 1 - y }
            let report = try learner.learn(LabeledExample(id: "e\(i)", x: xs[i], y: Double(y)))
            if i < 500 { #expect(report.flags.filter { $0.kind != .generalizationDrift }.isEmpty) }
            if firstDrift == nil, report.flags.contains(where: { $0.kind == .generalizationDrift }) { firstDrift = i }
        }
        print("first drift flag at example \(String(describing: firstDrift))")
        let at = try #require(firstDrift)
        #expect(at >= 3000 && at < 3600)
    }
    @Test func bothDriftSeriesDetectALabelSwapAndStayQuietBeforeIt() throws {
        // The LOO series feeds each example's LOO NLL at the first re-scoring after it arrived,
        // so its detections come at a re-scoring step, after the change, and before it nothing.
        let (xs, ys) = Synthetic.classification(n: 8000, d: 6, classes: 3, seed: 43, separation: 2)
        let c = LearnerConfiguration(model: .softmax, inputDimension: 6, classes: 3, family: .diagonal,
                                     memory: .init(capacity: 512, rescoreInterval: 256))
        var learner = try OnlineLearner(configuration: c)
        var first: [DriftSeries: Int] = [:]
        var early: [DriftEvent] = []
        for i in xs.indices {
            var y = ys[i]
            if i >= 4000 && y < 2 { y = 1 - y }
            let report = try learner.learn(LabeledExample(id: "e\(i)", x: xs[i], y: Double(y)))
            for event in report.drift {
                if i < 4000 { early.append(event) } else if first[event.series] == nil { first[event.series] = i }
            }
        }
        print("first detections after the swap at 4000: \(first); before it: \(early.count)")
        #expect(early.isEmpty)
        let loo = try #require(first[.looNLL])
        let prequential = try #require(first[.prequentialNLL])
        #expect(prequential < 4300)
        // Detected at a re-scoring (step = i + 1 is a multiple of the interval), within two of them.
        #expect((loo + 1) % 256 == 0)
        #expect(loo < 4000 + 2 * 256)
    }
}
