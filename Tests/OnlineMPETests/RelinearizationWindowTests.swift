import Foundation
import Testing
@testable import OnlineMPE

/// The `full` family's fixed-lag window against independent references: the materialized mean
/// and covariance are the Laplace posterior of the frozen Gaussian plus the window's exact
/// sites, and a window longer than the stream is the batch Laplace posterior itself.
@Suite struct RelinearizationWindowTests {
    func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        let diff = zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        let scale = b.map { $0 * $0 }.reduce(0, +).squareRoot()
        return diff / max(scale, 1e-300)
    }

    func learn(_ xs: [[Double]], _ ys: [Int], model: ModelKind, classes k: Int, window: Int, forgetting: Double = 1) throws -> FullPosterior {
        let c = LearnerConfiguration(model: model, inputDimension: xs[0].count, classes: k, family: .full, priorPrecision: 1,
                                     forgetting: forgetting, relinearizationWindow: window, memory: .init(capacity: 8, rescoreInterval: 1000))
        var learner = try OnlineLearner(configuration: c)
        for i in xs.indices { _ = try learner.learn(LabeledExample(id: "\(i)", x: xs[i], y: Double(ys[i]))) }
        return try #require(learner.posterior as? FullPosterior)
    }

    /// Nothing is ever frozen when the window outlasts the stream: every site stays an exact
    /// loss, so the mean is the batch MAP and the covariance the inverse Hessian there.
    @Test(arguments: [ModelKind.softmax, .logistic])
    func windowLongerThanTheStreamIsTheBatchLaplacePosterior(model: ModelKind) throws {
        let logistic = model == .logistic
        let k = logistic ? 2 : 3
        let (xs, ys) = Synthetic.classification(n: 30, d: 3, classes: k, seed: 41)
        let full = try learn(xs, ys, model: model, classes: k, window: 40)
        #expect(full.windowCount == 30)
        let map = Reference.refit(xs, ys, prior: 1, classes: k, logistic: logistic)
        let (_, h) = Reference.gradientAndHessian(map, xs, ys, prior: 1, classes: k, logistic: logistic)
        let covariance = Reference.inverseSPD(h, n: map.count)
        let meanError = relativeError(full.mean, map)
        let covarianceError = relativeError(full.covariance, covariance)
        print("\(model) window over the whole stream: mean vs batch MAP \(meanError), covariance vs inverse Hessian \(covarianceError)")
        #expect(meanError <= 1e-8)
        #expect(covarianceError <= 1e-8)
    }

    /// With sites frozen (a window of 4 over 60 examples, with and without forgetting): the mean
    /// is a stationary point of `½ (θ − m₀)ᵀ P₀⁻¹ (θ − m₀) + Σ_W w_j ℓ_j(θ)`, and the covariance
    /// is the inverse of `P₀⁻¹ + Σ_W w_j J_jᵀ Λ_j J_j` with Λ at that mean.
    @Test(arguments: [1.0, 0.97])
    func windowedPosteriorIsTheLaplaceOfFrozenPartAndWindow(forgetting: Double) throws {
        let k = 3, d = 3
        let (xs, ys) = Synthetic.classification(n: 60, d: d, classes: k, seed: 42)
        let full = try learn(xs, ys, model: .softmax, classes: k, window: 4, forgetting: forgetting)
        #expect(full.windowCount == 4)
        let columns = d + 1
        let n = k * columns
        let frozenPrecision = Reference.inverseSPD(full.frozenCovariance, n: n)
        var gradient = [Double](repeating: 0, count: n)
        var precision = frozenPrecision
        var scale = 0.0
        for i in 0..<n {
            for j in 0..<n { gradient[i] += frozenPrecision[i * n + j] * (full.mean[j] - full.frozenMean[j]) }
            scale = max(scale, abs(gradient[i]))
        }
        for s in 0..<full.windowCount {
            let x = Array(full.windowInputs[(s * columns)..<(s * columns + d)])
            let a = Reference.augment(x)
            let y = Int(full.windowLabels[s])
            let w = full.windowWeights[s]
            let p = Reference.probabilities(full.mean, x, classes: k, logistic: false)
            for r in 0..<k {
                let e = p[r] - (r == y ? 1 : 0)
                for c in 0..<columns { gradient[r * columns + c] += w * e * a[c] }
                for r2 in 0..<k {
                    let lambda = (r == r2 ? p[r] : 0) - p[r] * p[r2]
                    for c in 0..<columns {
                        for c2 in 0..<columns { precision[(r * columns + c) * n + r2 * columns + c2] += w * lambda * a[c] * a[c2] }
                    }
                }
            }
        }
        let largest = gradient.map(abs).max() ?? 0
        let covarianceError = relativeError(full.covariance, Reference.inverseSPD(precision, n: n))
        print("window 4, forgetting \(forgetting): largest gradient \(largest) (frozen part's pull \(scale)), covariance vs inverse precision \(covarianceError)")
        // The window solve stops when every dual residual w e − u is below 1e-10; the gradient
        // is Σ_j J_jᵀ (w_j e_j − u_j), a few such residuals times |x̄|.
        #expect(largest <= 1e-8 * max(scale, 1))
        #expect(covarianceError <= 1e-9)
    }
}
