import Glibc

/// The per-example output algebra of spec §1: from the model output `f` to probabilities, the
/// error `e = ∂ℓ/∂f`, the output curvature `Λ = ∂²ℓ/∂f²` and the loss, for each likelihood.
///
/// Everything works on caller-owned buffers so that the per-example hot path allocates nothing.
struct OutputLayer: Sendable {
    let kind: ModelKind
    /// K for softmax, 1 otherwise.
    let outputs: Int
    let noiseVariance: Double

    /// Probabilities are clamped to `[probabilityFloor, 1]` before any logarithm (spec §3), which
    /// also bounds every negative log-likelihood by about 23.03 nats.
    static let probabilityFloor = 1e-10
    static let maximumNLL = -log(probabilityFloor)

    init(_ configuration: LearnerConfiguration) {
        kind = configuration.model
        outputs = configuration.outputs
        noiseVariance = configuration.noiseVariance
    }

    /// Fills `p` (softmax: K probabilities; logistic: σ(f); regression: the mean f), `e` and the
    /// diagonal of `Λ` from `f`, and returns the negative log-likelihood of `y`.
    @inline(__always)
    func evaluate(
        f: UnsafePointer<Double>, y: Double,
        p: UnsafeMutablePointer<Double>, e: UnsafeMutablePointer<Double>,
        lambdaDiagonal: UnsafeMutablePointer<Double>
    ) -> Double {
        switch kind {
        case .regression:
            let r = f[0] - y
            p[0] = f[0]
            e[0] = r / noiseVariance
            lambdaDiagonal[0] = 1 / noiseVariance
            return r * r / (2 * noiseVariance) + 0.5 * log(2 * Double.pi * noiseVariance)
        case .logistic:
            let s = OutputLayer.sigmoid(f[0])
            p[0] = s
            e[0] = s - y
            lambdaDiagonal[0] = s * (1 - s)
            // −log p(y|f) = softplus(f) − y f, computed without overflow for any finite f.
            let z = y == 1 ? -f[0] : f[0]
            return min(OutputLayer.softplus(z), OutputLayer.maximumNLL)
        case .softmax:
            let (peak, total) = softmax(f: f, into: p)
            let label = Int(y)
            for c in 0..<outputs {
                let pc = p[c]
                e[c] = c == label ? pc - 1 : pc
                lambdaDiagonal[c] = pc * (1 - pc)
            }
            let nll = log(total) + peak - f[label]
            return min(nll, OutputLayer.maximumNLL)
        }
    }

    /// `−log p(y|f)` without the clamp of `evaluate`: the per-example site problem of the `full`
    /// family minimizes it by line search, which needs a loss that keeps decreasing past 23 nats.
    @inline(__always)
    func unclampedLoss(f: UnsafePointer<Double>, y: Double) -> Double {
        switch kind {
        case .regression:
            let r = f[0] - y
            return r * r / (2 * noiseVariance)
        case .logistic:
            return OutputLayer.softplus(y == 1 ? -f[0] : f[0])
        case .softmax:
            var peak = f[0]
            for c in 1..<outputs where f[c] > peak { peak = f[c] }
            var total = 0.0
            for c in 0..<outputs { total += exp(f[c] - peak) }
            return log(total) + peak - f[Int(y)]
        }
    }

    /// Writes the full K×K output curvature `Λ` (row-major) from the probabilities `p`.
    @inline(__always)
    func fillLambda(p: UnsafePointer<Double>, into lambda: UnsafeMutablePointer<Double>) {
        switch kind {
        case .regression: lambda[0] = 1 / noiseVariance
        case .logistic: lambda[0] = p[0] * (1 - p[0])
        case .softmax:
            let k = outputs
            for r in 0..<k {
                for c in 0..<k {
                    lambda[r * k + c] = (r == c ? p[r] : 0) - p[r] * p[c]
                }
            }
        }
    }

    /// Turns an output `f` into probabilities only (no label needed).
    @inline(__always)
    func probabilities(f: UnsafePointer<Double>, into p: UnsafeMutablePointer<Double>) {
        switch kind {
        case .regression: p[0] = f[0]
        case .logistic: p[0] = OutputLayer.sigmoid(f[0])
        case .softmax: _ = softmax(f: f, into: p)
        }
    }

    /// Writes `softmax(f)` into `p`; returns the shift and the sum of shifted exponentials, from
    /// which the log-partition function is `log(total) + peak`.
    @inline(__always)
    private func softmax(f: UnsafePointer<Double>, into p: UnsafeMutablePointer<Double>) -> (peak: Double, total: Double) {
        let k = outputs
        var peak = f[0]
        for c in 1..<k where f[c] > peak { peak = f[c] }
        var total = 0.0
        for c in 0..<k {
            let v = exp(f[c] - peak)
            p[c] = v
            total += v
        }
        let inverse = 1 / total
        for c in 0..<k { p[c] *= inverse }
        return (peak, total)
    }

    /// The probability of the given label, clamped to `[1e-10, 1]`. For regression, the
    /// likelihood ratio `exp(−(y−f)²/(2s²))` of the label against a perfect prediction, which
    /// lies in (0, 1] and plays the same role.
    @inline(__always)
    func labelProbability(p: UnsafePointer<Double>, y: Double) -> Double {
        let raw: Double
        switch kind {
        case .regression:
            let r = y - p[0]
            raw = exp(-r * r / (2 * noiseVariance))
        case .logistic: raw = y == 1 ? p[0] : 1 - p[0]
        case .softmax: raw = p[Int(y)]
        }
        return min(max(raw, OutputLayer.probabilityFloor), 1)
    }

    /// Negative log-likelihood of `y` under probabilities `p` (plug-in predictive), clamped.
    @inline(__always)
    func negativeLogLikelihood(p: UnsafePointer<Double>, y: Double) -> Double {
        switch kind {
        case .regression:
            let r = y - p[0]
            return r * r / (2 * noiseVariance) + 0.5 * log(2 * Double.pi * noiseVariance)
        case .logistic, .softmax:
            return -log(labelProbability(p: p, y: y))
        }
    }

    /// The predicted label: the most probable class, or the predicted mean for regression.
    @inline(__always)
    func predicted(p: UnsafePointer<Double>) -> Double {
        switch kind {
        case .regression: return p[0]
        case .logistic: return p[0] >= 0.5 ? 1 : 0
        case .softmax:
            var best = 0
            for c in 1..<outputs where p[c] > p[best] { best = c }
            return Double(best)
        }
    }

    /// 0/1 error for classification, squared error for regression.
    @inline(__always)
    func error(p: UnsafePointer<Double>, y: Double) -> Double {
        switch kind {
        case .regression:
            let r = y - p[0]
            return r * r
        case .logistic, .softmax:
            return predicted(p: p) == y ? 0 : 1
        }
    }

    @inline(__always)
    static func sigmoid(_ z: Double) -> Double {
        if z >= 0 { return 1 / (1 + exp(-z)) }
        let t = exp(z)
        return t / (1 + t)
    }

    /// `log(1 + e^z)` without overflow.
    @inline(__always)
    static func softplus(_ z: Double) -> Double {
        max(z, 0) + log1p(exp(-abs(z)))
    }
}
