import Testing
@testable import OnlineMPE

/// Snapshot → restore → continue is bit-identical to an uninterrupted run; bad snapshots are
/// refused with a clear error.
@Suite struct SnapshotTests {
    static let configurations: [LearnerConfiguration] = [
        LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .full, memory: .init(capacity: 20, policy: .window, rescoreInterval: 7), flags: .init(warmup: 10)),
        LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .diagonal, forgetting: 0.99, memory: .init(capacity: 20, policy: .reservoir, rescoreInterval: 7), flags: .init(warmup: 10)),
        LearnerConfiguration(model: .softmax, inputDimension: 5, classes: 3, family: .diagonal, curvature: .ivon, memory: .init(capacity: 20, policy: .reservoir, rescoreInterval: 7), flags: .init(warmup: 10)),
        LearnerConfiguration(model: .logistic, inputDimension: 5, family: .diagonal, perturbation: .firstOrder, memory: .init(capacity: 9, rescoreInterval: 4), inputCurvature: .init(probes: 3, forceFiniteDifference: true)),
        LearnerConfiguration(model: .regression, inputDimension: 5, family: .full, forgetting: 0.95, memory: .init(capacity: 9, rescoreInterval: 4)),
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
        future[8] = 2  // the version field follows the 8 magic bytes
        #expect(throws: SnapshotError.incompatibleVersion(found: 2, supported: 1)) { try OnlineLearner(restoring: future) }
        #expect(throws: SnapshotError.self) { try OnlineLearner(restoring: bytes + [0]) }
        var other = c
        other.priorPrecision = 2
        #expect(throws: SnapshotError.configurationMismatch("prior_precision: expected 2.0, snapshot has 1.0")) {
            try OnlineLearner(restoring: bytes, expecting: other)
        }
        // The intact bytes still restore.
        let restored = try OnlineLearner(restoring: bytes, expecting: c)
        #expect(restored.snapshot() == bytes)
    }
}
