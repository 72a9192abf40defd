import Foundation
import Testing
@testable import OnlineMPE

/// Spec §6: e = ∂ℓ/∂f, Λ = ∂²ℓ/∂f², input gradients and input Hessians against finite differences.
@Suite struct DerivativeTests {
    func outputs(_ kind: ModelKind, _ f: [Double], _ y: Double, classes: Int = 4) -> (nll: Double, p: [Double], e: [Double], lambda: [Double]) {
        let c = LearnerConfiguration(model: kind, inputDimension: 1, classes: classes, noiseVariance: 0.5)
        let layer = OutputLayer(c)
        let k = c.outputs
        var p = [Double](repeating: 0, count: k), e = p, l = p
        var lambda = [Double](repeating: 0, count: k * k)
        let nll = f.withStart { fp in p.withMutableStart { pp in e.withMutableStart { ep in l.withMutableStart { lp in
            layer.evaluate(f: fp, y: y, p: pp, e: ep, lambdaDiagonal: lp)
        } } } }
        p.withStart { pp in lambda.withMutableStart { layer.fillLambda(p: pp, into: $0) } }
        return (nll, p, e, lambda)
    }

    @Test(arguments: [ModelKind.regression, .logistic, .softmax])
    func errorAndCurvatureMatchFiniteDifferences(kind: ModelKind) {
        var rng = SplitMix(state: 5)
        let k = kind == .softmax ? 4 : 1
        for _ in 0..<20 {
            let f = (0..<k).map { _ in 2 * rng.normal() }
            let y: Double = kind == .regression ? rng.normal() : Double(rng.next() % UInt64(kind == .softmax ? 4 : 2))
            let base = outputs(kind, f, y)
            let h = 1e-5
            for c in 0..<k {
                var up = f, down = f
                up[c] += h
                down[c] -= h
                let plus = outputs(kind, up, y), minus = outputs(kind, down, y)
                let gradient = (plus.nll - minus.nll) / (2 * h)
                #expect(abs(gradient - base.e[c]) <= 1e-7 * max(1, abs(gradient)), "e[\(c)]")
                for r in 0..<k {
                    let second = (plus.e[r] - minus.e[r]) / (2 * h)
                    #expect(abs(second - base.lambda[r * k + c]) <= 1e-7 * max(1, abs(second)), "Λ[\(r),\(c)]")
                }
            }
        }
    }

    func trainedLearner(_ kind: ModelKind, d: Int = 6, k: Int = 4) throws -> OnlineLearner {
        let c = LearnerConfiguration(model: kind, inputDimension: d, classes: k, noiseVariance: 0.5, family: .full, priorPrecision: 0.5)
        var learner = try OnlineLearner(configuration: c)
        if kind == .regression {
            let (xs, ys) = Synthetic.regression(n: 80, d: d, seed: 8, noise: 0.5)
            for i in xs.indices { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: ys[i])) }
        } else {
            let (xs, ys) = Synthetic.classification(n: 80, d: d, classes: kind == .softmax ? k : 2, seed: 8)
            for i in xs.indices { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: Double(ys[i]))) }
        }
        return learner
    }

    func loss(_ learner: OnlineLearner, _ x: [Double], _ y: Double) throws -> Double {
        let p = try learner.predict(x)
        switch learner.configuration.model {
        case .regression: return (y - p[0]) * (y - p[0]) / (2 * learner.configuration.noiseVariance)
        case .logistic: return -log(y == 1 ? p[0] : 1 - p[0])
        case .softmax: return -log(p[Int(y)])
        }
    }

    func gradient(_ learner: OnlineLearner, _ x: [Double], _ y: Double) -> [Double] {
        var g = [Double](repeating: 0, count: x.count)
        x.withStart { xp in g.withMutableStart { learner.inputGradient(x: xp, label: y, into: $0) } }
        return g
    }

    @Test(arguments: [ModelKind.regression, .logistic, .softmax])
    func inputGradientAndHessianMatchFiniteDifferences(kind: ModelKind) throws {
        let learner = try trainedLearner(kind)
        var rng = SplitMix(state: 12)
        let d = 6
        for _ in 0..<5 {
            let x = (0..<d).map { _ in rng.normal() }
            let y: Double = kind == .regression ? rng.normal() : Double(rng.next() % UInt64(kind == .softmax ? 4 : 2))
            let g = gradient(learner, x, y)
            let h = 1e-5
            var hessian = [Double](repeating: 0, count: d * d)
            for j in 0..<d {
                var up = x, down = x
                up[j] += h
                down[j] -= h
                let numeric = (try loss(learner, up, y) - loss(learner, down, y)) / (2 * h)
                #expect(abs(numeric - g[j]) <= 1e-6 * max(1, abs(numeric)), "∂ℓ/∂x[\(j)]")
                let gu = gradient(learner, up, y), gd = gradient(learner, down, y)
                for i in 0..<d { hessian[i * d + j] = (gu[i] - gd[i]) / (2 * h) }
            }
            let frobenius = hessian.map { $0 * $0 }.reduce(0, +).squareRoot()
            let loo = try learner.leaveOneOut(LabeledExample(id: "q", x: x, y: y))
            // The closed form uses a Gram matrix refreshed at most 16 updates ago; refresh it.
            var fresh = learner
            fresh.refreshGram()
            let closed = try fresh.leaveOneOut(LabeledExample(id: "q", x: x, y: y)).scores.curvature
            #expect(abs(closed - frobenius) <= 1e-5 * max(1, frobenius), "‖H_x‖_F closed \(closed) vs finite differences \(frobenius)")
            #expect(loo.scores.curvature.isFinite)
        }
    }

    @Test func hutchinsonEstimatorAgreesWithClosedForm() throws {
        var learner = try trainedLearner(.softmax)
        learner.refreshGram()
        var rng = SplitMix(state: 13)
        let x = (0..<6).map { _ in rng.normal() }
        let closed = try learner.leaveOneOut(LabeledExample(id: "q", x: x, y: 1)).scores.curvature
        var random = RandomSource(seed: 3)
        let estimate = InputCurvature.finiteDifference(x: x, probes: 4000, step: 1e-4, random: &random) { point, g in
            learner.inputGradient(x: point, label: 1, into: g)
        }
        // Hutchinson's estimator of ‖H‖_F² has relative standard error of order 1/√probes here.
        #expect(abs(estimate - closed) / closed < 0.05, "finite-difference \(estimate) vs closed form \(closed)")
        // And the learner's own finite-difference mode gives the same order of value.
        var c = learner.configuration
        c.inputCurvature = .init(probes: 200, step: 1e-4, finiteDifference: true)
        var fd = try OnlineLearner(configuration: c)
        fd.posterior = learner.posterior
        let viaLearner = try fd.leaveOneOut(LabeledExample(id: "q", x: x, y: 1)).scores.curvature
        #expect(abs(viaLearner - closed) / closed < 0.25)
    }
}
