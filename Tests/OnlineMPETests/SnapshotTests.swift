import Testing
@testable import OnlineMPE

/// Snapshot → restore → continue is bit-identical to an uninterrupted run; bad snapshots are
/// refused with a clear error.
@Suite struct SnapshotTests {
    static let configurations: [LearnerConfiguration] = [
        LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .full, memory: .init(capacity: 20, policy: .window, rescoreInterval: 7), flags: .init(warmup: 10)),
        LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .diagonal, forgetting: 0.99, memory: .init(capacity: 20, policy: .reservoir, rescoreInterval: 7), flags: .init(warmup: 10)),
        LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .diagonal, curvature: .ivon, memory: .init(capacity: 20, policy: .reservoir, rescoreInterval: 7), flags: .init(warmup: 10)),
        LearnerConfiguration(model: .logistic, inputDimension: 5, family: .diagonal, perturbation: .firstOrder, memory: .init(capacity: 9, rescoreInterval: 4), inputCurvature: .init(probes: 3, finiteDifference: true)),
        LearnerConfiguration(model: .regression, inputDimension: 5, family: .full, forgetting: 0.95, memory: .init(capacity: 9, rescoreInterval: 4)),
        // The `full` window: every cut leaves sites in it (a full window from cut 57 on), and with
        // forgetting its weights are discounted; and `full` without a window.
        LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .full, relinearizationWindow: 16, memory: .init(capacity: 20, rescoreInterval: 7), flags: .init(warmup: 10)),
        LearnerConfiguration(model: .logistic, inputDimension: 5, family: .full, forgetting: 0.98, relinearizationWindow: 3, memory: .init(capacity: 9, rescoreInterval: 4)),
        LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .full, relinearizationWindow: 0, memory: .init(capacity: 20, rescoreInterval: 7), flags: .init(warmup: 10)),
        // The forecast calibration's history and random draws (diagonal GGN with a window), with
        // forgetting.
        LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .diagonal, forgetting: 0.99, memory: .init(capacity: 20, rescoreInterval: 7, calibrationSamples: 3), flags: .init(warmup: 10)),
    ]

    func stream(_ c: LearnerConfiguration) -> [LabeledExample] {
        let (xs, ys) = Synthetic.classification(n: 300, d: 5, classes: c.model == .softmax ? 3 : 2, seed: 31)
        return xs.indices.map { i in
            // Flip some labels so that flags and detectors have something to do.
            var y = Double(ys[i])
            if i % 17 == 0 && c.model != .regression { y = Double((ys[i] + 1) % (c.model == .softmax ? 3 : 2)) }
            if c.model == .regression { y = xs[i].reduce(0, +) }
            return LabeledExample(id: "e\(i)", x: xs[i], y: y)
        }
    }

    @Test(arguments: SnapshotTests.configurations.indices)
    func restoredLearnerContinuesBitIdentically(index: Int) throws {
        let c = SnapshotTests.configurations[index]
        let examples = stream(c)
        var uninterrupted = try OnlineLearner(configuration: c)
        var uninterruptedReports: [ExampleReport] = []
        for e in examples { uninterruptedReports.append(try uninterrupted.learn(e)) }

        for cut in [1, 57, 150, 299] {
            var first = try OnlineLearner(configuration: c)
            for e in examples[..<cut] { _ = try first.learn(e) }
            var restored = try OnlineLearner(restoring: first.snapshot(), expecting: c)
            for (i, e) in examples[cut...].enumerated() {
                let report = try restored.learn(e)
                #expect(report == uninterruptedReports[cut + i], "config \(index) cut \(cut) step \(cut + i)")
            }
            #expect(restored.snapshot() == uninterrupted.snapshot(), "config \(index) cut \(cut)")
            #expect(restored.mean.map(\.bitPattern) == uninterrupted.mean.map(\.bitPattern))
        }
    }

    /// The workspace's buffers are pointers into memory that copies of a learner share
    /// (`Workspace`): a copy must get its own before learning, or two copies learning at the same
    /// time on two threads overwrite each other's scratch values mid-example. (The diagonal
    /// family: the check is the learner's, not a family's, and a `full` learner fed such
    /// corrupted values can spin in its site solve instead of failing.)
    @Test func copiesLearnIndependentlyOnTwoThreadsAtOnce() async throws {
        let c = LearnerConfiguration(model: .softmax, inputDimension: 64, classes: 10, family: .diagonal,
                                     memory: .init(capacity: 64, rescoreInterval: 32), flags: .init(warmup: 10))
        let (xs, ys) = Synthetic.classification(n: 3000, d: 64, classes: 10, seed: 41)
        let examples = xs.indices.map { LabeledExample(id: "e\($0)", x: xs[$0], y: Double(ys[$0])) }
        let (left, right) = (Array(examples[300...]), Array(examples[300...].reversed()))
        var base = try OnlineLearner(configuration: c)
        for e in examples[..<300] { _ = try base.learn(e) }
        // References, one after the other on this thread.
        var one = base, two = base
        for e in left { _ = try one.learn(e) }
        for e in right { _ = try two.learn(e) }
        // The same two continuations of copies of `base`, at the same time.
        let start = base
        async let a: [UInt8] = {
            var learner = start
            for e in left { _ = try learner.learn(e) }
            return learner.snapshot()
        }()
        async let b: [UInt8] = {
            var learner = start
            for e in right { _ = try learner.learn(e) }
            return learner.snapshot()
        }()
        let (concurrentA, concurrentB) = try await (a, b)
        // Compared as Bools: a failure would otherwise print both snapshots, byte by byte.
        let (sameA, sameB, distinct) = (concurrentA == one.snapshot(), concurrentB == two.snapshot(), one.snapshot() != two.snapshot())
        #expect(sameA)
        #expect(sameB)
        #expect(distinct)
    }

    /// A learner of `created` after the first 150 examples of its stream, that learner restored
    /// from its snapshot with the alert settings of `adopting`, and the stream.
    func restoredAfter150(created: LearnerConfiguration, adopting: LearnerConfiguration) throws
        -> (straight: OnlineLearner, adopted: OnlineLearner, examples: [LabeledExample]) {
        let examples = stream(created)
        var straight = try OnlineLearner(configuration: created)
        for example in examples[..<150] { _ = try straight.learn(example) }
        var adopted = try OnlineLearner(restoring: straight.snapshot())
        adopted.adoptAlertSettings(from: adopting)
        return (straight, adopted, examples)
    }

    /// Alert settings adopted by a restored learner change what it flags and when its
    /// Page–Hinkley detectors fire, never what it learns: its posterior stays bit-identical to
    /// that of the run that kept the old ones; settings outside the alert settings are not
    /// adopted; the next snapshot carries what was.
    @Test func restoredLearnerAdoptsAlertSettingsAndLearnsTheSame() throws {
        var touchy = LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .diagonal,
                                          memory: .init(capacity: 20, rescoreInterval: 7), flags: .init(warmup: 10))
        touchy.drift = DriftSettings(pageHinkleyDelta: 0, pageHinkleyThreshold: 0.5, pageHinkleyMinimum: 5)
        var quiet = touchy
        quiet.flags.warmup = 1_000_000
        quiet.flags.mislabeledMargin = 0.5
        quiet.drift = DriftSettings(pageHinkleyDelta: 0.1, pageHinkleyThreshold: 1e9, pageHinkleyMinimum: 50, adwinDelta: 0.01)
        quiet.flags.memorizationQuantile = 0.5
        // Not alert settings: left as the learner was created.
        quiet.priorPrecision = touchy.priorPrecision * 2
        quiet.memory.rescoreInterval = 3
        var (straight, adopted, examples) = try restoredAfter150(created: touchy, adopting: quiet)

        var expected = touchy
        expected.flags = quiet.flags
        expected.drift = quiet.drift
        #expect(adopted.configuration == expected)

        var straightFlags = 0, straightPageHinkley = 0
        for example in examples[150...] {
            let a = try straight.learn(example), b = try adopted.learn(example)
            straightFlags += a.flags.filter { $0.kind != .generalizationDrift }.count
            straightPageHinkley += a.drift.filter { $0.detector == .pageHinkley }.count
            #expect(b.flags.allSatisfy { $0.kind == .generalizationDrift })
            #expect(b.drift.allSatisfy { $0.detector != .pageHinkley })
        }
        #expect(straightFlags > 0, "the test stream must raise example flags under the old settings")
        #expect(straightPageHinkley > 0, "the test stream must fire Page-Hinkley under the old settings")
        #expect(adopted.mean == straight.mean)
        #expect(adopted.step == straight.step)
        #expect(try OnlineLearner(restoring: adopted.snapshot()).configuration == expected)
    }

    /// A flag quantile taken up at another level starts afresh from the examples in memory
    /// (a P² estimate follows the one level it was made for), and flags by it: at the median,
    /// far more arrivals are flagged memorized than at the 0.99 quantile of the learner's
    /// creation. The other estimate is left as it was.
    @Test func adoptedQuantileStartsAfreshFromTheMemory() throws {
        let created = LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .diagonal,
                                           memory: .init(capacity: 150, rescoreInterval: 7), flags: .init(warmup: 10))
        var median = created
        median.flags.memorizationQuantile = 0.5
        var (straight, adopted, examples) = try restoredAfter150(created: created, adopting: median)

        #expect(adopted.rules.memorization.quantile == 0.5)
        #expect(adopted.rules.memorization.count == 150)
        #expect(adopted.rules.curvature == straight.rules.curvature)
        // Reference: the memory's scores, sorted; P² lands within the middle half of them.
        let sorted = adopted.rememberedScores.map(\.scores.memorization).sorted()
        let estimate = try #require(adopted.rules.memorization.value)
        #expect(estimate >= sorted[37] && estimate <= sorted[112], "\(estimate) outside \(sorted[37])...\(sorted[112])")

        func memorizedOnArrival(_ report: ExampleReport) -> Int {
            report.flags.filter { $0.kind == .memorized && $0.arrivalStep == report.step }.count
        }
        var atCreation = 0, atMedian = 0
        for example in examples[150...] {
            atCreation += memorizedOnArrival(try straight.learn(example))
            atMedian += memorizedOnArrival(try adopted.learn(example))
        }
        #expect(atMedian > 3 * max(atCreation, 1), "memorized on arrival: \(atMedian) at the median, \(atCreation) at 0.99")
        #expect(adopted.mean == straight.mean)
    }

    @Test func corruptTruncatedAndForeignSnapshotsAreRefused() throws {
        let c = SnapshotTests.configurations[1]
        var learner = try OnlineLearner(configuration: c)
        for e in stream(c).prefix(50) { _ = try learner.learn(e) }
        let bytes = learner.snapshot()

        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        #expect(throws: SnapshotError.self) { try OnlineLearner(restoring: flipped) }
        do {
            _ = try OnlineLearner(restoring: flipped)
        } catch {
            guard case .checksumMismatch = error else { Issue.record("expected a checksum mismatch, got \(error)"); return }
        }
        for length in [0, 5, 12, bytes.count / 3, bytes.count - 1] {
            #expect(throws: SnapshotError.self, "length \(length)") { try OnlineLearner(restoring: Array(bytes.prefix(length))) }
        }
        #expect(throws: SnapshotError.notASnapshot) { try OnlineLearner(restoring: Array("hello, this is not a snapshot".utf8)) }
        var future = bytes
        future[8] = 4  // the version field follows the 8 magic bytes
        #expect(throws: SnapshotError.incompatibleVersion(found: 4, supported: 3)) { try OnlineLearner(restoring: future) }
        var past = bytes
        past[8] = 1  // version 1 had no relinearization window: refused, not guessed at
        #expect(throws: SnapshotError.incompatibleVersion(found: 1, supported: 3)) { try OnlineLearner(restoring: past) }
        #expect(throws: SnapshotError.self) { try OnlineLearner(restoring: bytes + [0]) }
        var other = c
        other.priorPrecision = 2
        #expect(throws: SnapshotError.configurationMismatch("prior_precision: expected 2.0, snapshot has 1.0")) {
            try OnlineLearner(restoring: bytes, expecting: other)
        }
        var window = c
        window.relinearizationWindow = 0
        #expect(throws: SnapshotError.configurationMismatch("relinearization_window: expected 0, snapshot has 4")) {
            try OnlineLearner(restoring: bytes, expecting: window)
        }
        // The intact bytes still restore.
        let restored = try OnlineLearner(restoring: bytes, expecting: c)
        #expect(restored.snapshot() == bytes)
    }

    /// A snapshot whose window holds a label the model cannot have is refused, not restored
    /// into a learner that would index out of range at the next example.
    @Test func windowWithAnImpossibleLabelIsRefused() throws {
        let c = SnapshotTests.configurations[5]
        var learner = try OnlineLearner(configuration: c)
        for e in stream(c).prefix(10) { _ = try learner.learn(e) }
        let full = try #require(learner.posterior as? FullPosterior)
        #expect(full.windowCount == 10)
        // The window's labels as the posterior writes them (count, then values); the posterior
        // comes before the memory in the payload, so the first match is the window's.
        var labels = SnapshotWriter()
        labels.write(Array(full.windowLabels[0..<full.windowCount]))
        var payload = try SnapshotEnvelope.open(learner.snapshot())
        let pattern = labels.bytes
        let found = (0...(payload.count - pattern.count)).first { payload[$0..<($0 + pattern.count)].elementsEqual(pattern) }
        let start = try #require(found)
        var seven = SnapshotWriter()
        seven.write(7.0)
        payload.replaceSubrange((start + 8)..<(start + 16), with: seven.bytes)
        let bytes = SnapshotEnvelope.seal(payload)
        #expect(throws: SnapshotError.invalid(what: "window label 7.0 is not a label of the softmax model")) {
            try OnlineLearner(restoring: bytes)
        }
    }
}
