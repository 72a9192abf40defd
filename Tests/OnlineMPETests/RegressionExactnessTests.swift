import Foundation
import Testing
@testable import OnlineMPE

/// Spec §6: `full` + `regression` is exact — online equals batch for any order, and the
/// corrected LOO residual equals a brute-force refit without the example.
@Suite struct RegressionExactnessTests {
    let d = 6, n = 60, prior = 0.7, noise = 0.4

    func configuration(_ family: PosteriorFamilyKind = .full) -> LearnerConfiguration {
        LearnerConfiguration(model: .regression, inputDimension: d, noiseVariance: noise, family: family,
                             priorPrecision: prior, memory: .init(capacity: 16, rescoreInterval: 16))
    }

    func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        let diff = zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        let scale = b.map { $0 * $0 }.reduce(0, +).squareRoot()
        return diff / max(scale, 1e-300)
    }

    @Test func onlinePosteriorEqualsBatchForAnyOrder() throws {
        let (xs, ys) = Synthetic.regression(n: n, d: d, seed: 7, noise: noise)
        let batch = Reference.regressionPosterior(xs, ys, prior: prior, noise: noise)
        var rng = SplitMix(state: 99)
        for trial in 0..<3 {
            var order = Array(0..<n)
            if trial > 0 { for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) } }
            var learner = try OnlineLearner(configuration: configuration())
            for i in order { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: ys[i])) }
            let full = try #require(learner.posterior as? FullPosterior)
            #expect(relativeError(full.mean, batch.mean) <= 1e-9, "order \(trial)")
            #expect(relativeError(full.covariance, batch.covariance) <= 1e-9, "order \(trial)")
        }
    }

    @Test func relinearizationWindowLeavesRegressionExact() throws {
        // Regression's sites are exact quadratics, so the `full` family keeps no window for it:
        // whatever the setting, online equals batch.
        let (xs, ys) = Synthetic.regression(n: n, d: d, seed: 7, noise: noise)
        let batch = Reference.regressionPosterior(xs, ys, prior: prior, noise: noise)
        for window in [0, 3, 16] {
            var c = configuration()
            c.relinearizationWindow = window
            var learner = try OnlineLearner(configuration: c)
            for i in 0..<n { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: ys[i])) }
            let full = try #require(learner.posterior as? FullPosterior)
            #expect(full.windowCount == 0, "window \(window)")
            #expect(relativeError(full.mean, batch.mean) <= 1e-9, "window \(window)")
            #expect(relativeError(full.covariance, batch.covariance) <= 1e-9, "window \(window)")
        }
    }

    @Test func correctedLeaveOneOutResidualEqualsRefit() throws {
        let (xs, ys) = Synthetic.regression(n: n, d: d, seed: 11, noise: noise)
        var learner = try OnlineLearner(configuration: configuration())
        for i in 0..<n { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: ys[i])) }
        var worst = 0.0
        for i in 0..<n {
            var xsMinus = xs, ysMinus = ys
            xsMinus.remove(at: i)
            ysMinus.remove(at: i)
            let refit = Reference.regressionPosterior(xsMinus, ysMinus, prior: prior, noise: noise)
            let a = Reference.augment(xs[i])
            let refitResidual = ys[i] - zip(refit.mean, a).map(*).reduce(0, +)
            let loo = try learner.leaveOneOut(LabeledExample(id: "\(i)", x: xs[i], y: ys[i]))
            let mpeResidual = ys[i] - loo.fTilde[0]
            worst = max(worst, abs(mpeResidual - refitResidual) / abs(refitResidual))
            // The closed form of spec §3: y − f̃ = (y − f)/(1 − v/s²).
            let closed = (ys[i] - loo.f[0]) / (1 - loo.variance[0] / noise)
            #expect(abs(closed - refitResidual) / abs(refitResidual) <= 1e-9)
        }
        #expect(worst <= 1e-9, "worst relative error \(worst)")
    }

    @Test func firstOrderResidualIsNotExact() throws {
        // The first-order form must differ measurably from the refit: this is what makes the
        // exactness test above able to fail.
        let (xs, ys) = Synthetic.regression(n: 20, d: d, seed: 5, noise: noise)
        var c = configuration()
        c.perturbation = .firstOrder
        var learner = try OnlineLearner(configuration: c)
        for i in 0..<20 { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: ys[i])) }
        var xsMinus = xs, ysMinus = ys
        xsMinus.removeFirst()
        ysMinus.removeFirst()
        let refit = Reference.regressionPosterior(xsMinus, ysMinus, prior: prior, noise: noise)
        let refitResidual = ys[0] - zip(refit.mean, Reference.augment(xs[0])).map(*).reduce(0, +)
        let loo = try learner.leaveOneOut(LabeledExample(id: "0", x: xs[0], y: ys[0]))
        #expect(abs((ys[0] - loo.fTilde[0]) - refitResidual) / abs(refitResidual) > 1e-6)
    }

    @Test func diagonalPrecisionIsPriorPlusSummedCurvature() throws {
        // With γ = 1 the GGN diagonal precision is δ + Σ_i x̄_ij²/s², in closed form.
        let (xs, ys) = Synthetic.regression(n: n, d: d, seed: 3, noise: noise)
        var learner = try OnlineLearner(configuration: configuration(.diagonal))
        for i in 0..<n { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: ys[i])) }
        let diagonal = try #require(learner.posterior as? DiagonalPosterior)
        var expected = [Double](repeating: prior, count: d + 1)
        for x in xs { for (j, v) in Reference.augment(x).enumerated() { expected[j] += v * v / noise } }
        #expect(relativeError(diagonal.precision, expected) <= 1e-12)
    }

    @Test func forgettingDiscountsOldSitesInTheDiagonalPrecision() throws {
        // S_t = γ S_{t−1} + (1−γ)δ + x̄²/s² has the closed form δ + Σ_i γ^{t−i} x̄_i²/s².
        let (xs, ys) = Synthetic.regression(n: 30, d: d, seed: 4, noise: noise)
        var c = configuration(.diagonal)
        c.forgetting = 0.9
        var learner = try OnlineLearner(configuration: c)
        for i in 0..<30 { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: ys[i])) }
        let diagonal = try #require(learner.posterior as? DiagonalPosterior)
        var expected = [Double](repeating: prior, count: d + 1)
        for (i, x) in xs.enumerated() {
            let discount = pow(0.9, Double(29 - i))
            for (j, v) in Reference.augment(x).enumerated() { expected[j] += discount * v * v / noise }
        }
        #expect(relativeError(diagonal.precision, expected) <= 1e-12)
    }
}
