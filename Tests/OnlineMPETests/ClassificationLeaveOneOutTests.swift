import Foundation
import Testing
@testable import OnlineMPE

/// Spec §6: for `logistic` and `softmax`, corrected LOO predictions against refits to
/// convergence without each example (damped Newton on the batch objective).
@Suite struct ClassificationLeaveOneOutTests {
    struct Comparison {
        var spearmanCorrected: Double
        var spearmanFirstOrder: Double
        var maeCorrected: Double
        var maeFirstOrder: Double
        var maeFirstOrderDiagonal: Double
    }

    /// Compares the learner's LOO probabilities with exact refits. `atMAP`: the learner's
    /// posterior is replaced by the batch Laplace posterior (MAP, inverse Hessian), which checks
    /// the perturbation formulas alone; otherwise the online posterior is used as learned.
    func compare(_ xs: [[Double]], _ ys: [Int], classes k: Int, logistic: Bool, prior: Double, atMAP: Bool) throws -> Comparison {
        let d = xs[0].count
        var results: [PerturbationKind: [[Double]]] = [:]
        var inSample: [[Double]] = []
        var diagonalFirstOrder: [[Double]] = []
        let map = Reference.refit(xs, ys, prior: prior, classes: k, logistic: logistic)
        for kind in [PerturbationKind.corrected, .firstOrder] {
            let c = LearnerConfiguration(model: logistic ? .logistic : .softmax, inputDimension: d, classes: k, family: .full,
                                         priorPrecision: prior, perturbation: kind, memory: .init(capacity: 8, rescoreInterval: 1000))
            var learner = try OnlineLearner(configuration: c)
            if atMAP {
                let (_, h) = Reference.gradientAndHessian(map, xs, ys, prior: prior, classes: k, logistic: logistic)
                learner.posterior = FullPosterior(configuration: c, mean: map, covariance: Reference.inverseSPD(h, n: map.count))
            } else {
                for i in xs.indices { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: Double(ys[i]))) }
            }
            var out: [[Double]] = []
            for i in xs.indices {
                let loo = try learner.leaveOneOut(LabeledExample(id: "\(i)", x: xs[i], y: Double(ys[i])))
                out.append(logistic ? [1 - loo.pTilde[0], loo.pTilde[0]] : loo.pTilde)
                if kind == .corrected {
                    inSample.append(logistic ? [1 - loo.p[0], loo.p[0]] : loo.p)
                    // The paper's code: f̃_k = f_k + V_kk e_k with only diag(V).
                    let rows = loo.f.count
                    let e: [Double] = logistic ? [loo.p[0] - Double(ys[i])] : (0..<k).map { loo.p[$0] - ($0 == ys[i] ? 1 : 0) }
                    let f = (0..<rows).map { loo.f[$0] + loo.variance[$0 * rows + $0] * e[$0] }
                    if logistic {
                        let p = 1 / (1 + exp(-f[0]))
                        diagonalFirstOrder.append([1 - p, p])
                    } else {
                        let peak = f.max() ?? 0
                        let ex = f.map { exp($0 - peak) }
                        let s = ex.reduce(0, +)
                        diagonalFirstOrder.append(ex.map { $0 / s })
                    }
                }
            }
            results[kind] = out
        }
        // Exact LOO: refit without example i, started from the MAP (converges in a few steps).
        var exactDeviation: [Double] = [], exact: [[Double]] = []
        let mapProbabilities = xs.map { Reference.probabilities(map, $0, classes: k, logistic: logistic) }
        for i in xs.indices {
            var xm = xs, ym = ys
            xm.remove(at: i)
            ym.remove(at: i)
            let theta = Reference.refit(xm, ym, prior: prior, classes: k, logistic: logistic, start: map)
            let p = Reference.probabilities(theta, xs[i], classes: k, logistic: logistic)
            exact.append(p)
            exactDeviation.append(zip(p, mapProbabilities[i]).map { abs($0 - $1) }.reduce(0, +))
        }
        func l1(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { abs($0 - $1) }.reduce(0, +) }
        func deviations(_ ps: [[Double]]) -> [Double] { ps.indices.map { l1(ps[$0], inSample[$0]) } }
        func mae(_ ps: [[Double]]) -> Double {
            ps.indices.map { abs(l1(ps[$0], inSample[$0]) - exactDeviation[$0]) }.reduce(0, +) / Double(ps.count)
        }
        let corrected = results[.corrected] ?? [], first = results[.firstOrder] ?? []
        return Comparison(
            spearmanCorrected: Reference.spearman(deviations(corrected), exactDeviation),
            spearmanFirstOrder: Reference.spearman(deviations(first), exactDeviation),
            maeCorrected: mae(corrected), maeFirstOrder: mae(first), maeFirstOrderDiagonal: mae(diagonalFirstOrder))
    }

    @Test func softmaxAtTheMAPMatchesRefits() throws {
        // The setting of spec §3: n=200, d=5+bias, K=3, δ=1, full Hessian at the MAP.
        let (xs, ys) = Synthetic.classification(n: 200, d: 5, classes: 3, seed: 21)
        let c = try compare(xs, ys, classes: 3, logistic: false, prior: 1, atMAP: true)
        print("softmax at MAP: spearman corrected \(c.spearmanCorrected) first-order \(c.spearmanFirstOrder); MAE corrected \(c.maeCorrected) first-order \(c.maeFirstOrder) first-order diag(V) \(c.maeFirstOrderDiagonal)")
        #expect(c.spearmanCorrected >= 0.98)
        #expect(c.maeCorrected < c.maeFirstOrder)
        #expect(c.maeFirstOrder < c.maeFirstOrderDiagonal)
    }

    @Test func logisticAtTheMAPMatchesRefits() throws {
        let (xs, ys) = Synthetic.classification(n: 150, d: 4, classes: 2, seed: 22, separation: 1)
        let c = try compare(xs, ys, classes: 2, logistic: true, prior: 1, atMAP: true)
        print("logistic at MAP: spearman corrected \(c.spearmanCorrected) first-order \(c.spearmanFirstOrder); MAE corrected \(c.maeCorrected) first-order \(c.maeFirstOrder)")
        #expect(c.spearmanCorrected >= 0.98)
        #expect(c.maeCorrected < c.maeFirstOrder)
    }

    func compareWithReruns(_ xs: [[Double]], _ ys: [Int], classes k: Int) throws -> (spearman: Double, mae: Double) {
        let c = LearnerConfiguration(model: .softmax, inputDimension: xs[0].count, classes: k, family: .full,
                                     priorPrecision: 1, memory: .init(capacity: 8, rescoreInterval: 1000))
        var learner = try OnlineLearner(configuration: c)
        for i in xs.indices { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: Double(ys[i]))) }
        var predicted: [Double] = [], exact: [Double] = []
        for i in xs.indices {
            let loo = try learner.leaveOneOut(LabeledExample(id: "\(i)", x: xs[i], y: Double(ys[i])))
            predicted.append(zip(loo.pTilde, loo.p).map { abs($0 - $1) }.reduce(0, +))
            var without = try OnlineLearner(configuration: c)
            for j in xs.indices where j != i { _ = try without.learn(LabeledExample(id: "\(j)", x: xs[j], y: Double(ys[j]))) }
            let p = try without.predict(xs[i])
            exact.append(zip(p, loo.p).map { abs($0 - $1) }.reduce(0, +))
        }
        let mae = zip(predicted, exact).map { abs($0 - $1) }.reduce(0, +) / Double(xs.count)
        return (Reference.spearman(predicted, exact), mae)
    }

    @Test func onlineLogisticMatchesRefitsOnSynthetic() throws {
        let (xs, ys) = Synthetic.classification(n: 150, d: 4, classes: 2, seed: 24, separation: 1)
        let c = try compare(xs, ys, classes: 2, logistic: true, prior: 1, atMAP: false)
        print("online logistic synthetic: spearman corrected \(c.spearmanCorrected) first-order \(c.spearmanFirstOrder); MAE corrected \(c.maeCorrected) first-order \(c.maeFirstOrder)")
        #expect(c.spearmanCorrected >= 0.98)
    }

    @Test func softmaxOnDigitsSubsetMatchesRefits() throws {
        let (xs, ys) = try Digits.pooledSubset(classes: [3, 5, 8], count: 150)
        #expect(xs.count == 150)
        let atMAP = try compare(xs, ys, classes: 3, logistic: false, prior: 1, atMAP: true)
        let online = try compare(xs, ys, classes: 3, logistic: false, prior: 1, atMAP: false)
        let rerun = try compareWithReruns(xs, ys, classes: 3)
        print("digits subset at MAP: spearman \(atMAP.spearmanCorrected) MAE corrected \(atMAP.maeCorrected) first-order \(atMAP.maeFirstOrder); online vs batch refits: spearman \(online.spearmanCorrected) MAE corrected \(online.maeCorrected) first-order \(online.maeFirstOrder); online vs reruns: spearman \(rerun.spearman) MAE \(rerun.mae)")
        // The synthetic softmax stream of seed 23, printed beside the digits: one online pass
        // ranks LOO deviations against batch refits at 0.99409 with the default window (0.97993
        // without one); asserted for seeds 21–25 in `onlineSoftmaxOnSyntheticSeeds`. The
        // formulas themselves are checked at the MAP, where it is 0.99999.
        let (sx, sy) = Synthetic.classification(n: 200, d: 5, classes: 3, seed: 23)
        let synthetic = try compare(sx, sy, classes: 3, logistic: false, prior: 1, atMAP: false)
        print("synthetic softmax online vs batch refits: spearman corrected \(synthetic.spearmanCorrected) first-order \(synthetic.spearmanFirstOrder); MAE corrected \(synthetic.maeCorrected) first-order \(synthetic.maeFirstOrder)")
        #expect(atMAP.spearmanCorrected >= 0.98)
        #expect(atMAP.maeCorrected < atMAP.maeFirstOrder)
        #expect(online.spearmanCorrected >= 0.98)
    }

    /// One online pass over synthetic softmax streams, seeds 21–25, with the default
    /// relinearization window (4): LOO deviations rank against batch refits at
    /// 0.99512 / 0.99563 / 0.99409 / 0.99214 / 0.99306, and the corrected form has the lower mean
    /// absolute error on each. Without the window (each site frozen at its own MAP on arrival)
    /// they were 0.98896 / 0.99605 / 0.97993 / 0.98882 / 0.98988, seed 23 below 0.98: early
    /// sites linearized at p ≈ 1/K add more precision than they have at the MAP and shrink the
    /// online mean. With a window of 16: 0.99766 / 0.99519 / 0.99765 / 0.99663 / 0.99685 (README).
    @Test func onlineSoftmaxOnSyntheticSeeds() throws {
        var lowest = Double.infinity
        for seed: UInt64 in 21...25 {
            let (xs, ys) = Synthetic.classification(n: 200, d: 5, classes: 3, seed: seed)
            let c = try compare(xs, ys, classes: 3, logistic: false, prior: 1, atMAP: false)
            lowest = min(lowest, c.spearmanCorrected)
            print("synthetic softmax online seed \(seed): spearman corrected \(c.spearmanCorrected) first-order \(c.spearmanFirstOrder); MAE corrected \(c.maeCorrected) first-order \(c.maeFirstOrder)")
            #expect(c.spearmanCorrected >= 0.98, "seed \(seed)")
            #expect(c.maeCorrected < c.maeFirstOrder, "seed \(seed)")
        }
        print("synthetic softmax online, seeds 21-25: lowest spearman corrected \(lowest)")
    }

    @Test func logisticOnDigitsSubsetMatchesRefits() throws {
        let (xs, ys) = try Digits.pooledSubset(classes: [3, 8], count: 120)
        let online = try compare(xs, ys, classes: 2, logistic: true, prior: 1, atMAP: false)
        print("digits 3-vs-8 online logistic: spearman \(online.spearmanCorrected) MAE corrected \(online.maeCorrected) first-order \(online.maeFirstOrder)")
        #expect(online.spearmanCorrected >= 0.98)
    }
}
